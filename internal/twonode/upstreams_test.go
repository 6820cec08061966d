package twonode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
	"github.com/sessiontap/caddy-sessiontap/upstream"
)

// arrival is one delivery as an upstream saw it start.
type arrival struct {
	version uint64
	eventID string
	at      time.Time
}

// recorder tracks, per session, what arrived and how many requests for it
// were open at once; while held, requests wait until released or until
// their client goes away (a killed node).
type recorder struct {
	t        *testing.T
	mu       sync.Mutex
	arrivals map[string][]arrival
	open     map[string]int
	overlaps []string
	gate     chan struct{} // nil: not held
	started  chan string
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, arrivals: map[string][]arrival{}, open: map[string]int{}, started: make(chan string, 100000)}
}

// hold makes new requests wait; release lets them all go.
func (rc *recorder) hold() {
	rc.mu.Lock()
	rc.gate = make(chan struct{})
	rc.mu.Unlock()
}

func (rc *recorder) release() {
	rc.mu.Lock()
	if rc.gate != nil {
		close(rc.gate)
		rc.gate = nil
	}
	rc.mu.Unlock()
}

// enter records an arrival and returns the gate to wait on and a leave.
func (rc *recorder) enter(id string, a arrival) (<-chan struct{}, func()) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.arrivals[id] = append(rc.arrivals[id], a)
	rc.open[id]++
	if rc.open[id] > 1 {
		rc.overlaps = append(rc.overlaps, id)
	}
	rc.started <- id
	return rc.gate, func() {
		rc.mu.Lock()
		rc.open[id]--
		rc.mu.Unlock()
	}
}

func (rc *recorder) wait(r *http.Request, gate <-chan struct{}) error {
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

func (rc *recorder) of(id string) []arrival {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]arrival(nil), rc.arrivals[id]...)
}

func (rc *recorder) overlapping() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.overlaps...)
}

// last is the highest version that arrived for id.
func (rc *recorder) last(id string) uint64 {
	var v uint64
	for _, a := range rc.of(id) {
		v = max(v, a.version)
	}
	return v
}

// webhookServer verifies each request's signature and records its
// session, version and event id.
func webhookServer(t *testing.T) (*recorder, string) {
	rc := newRecorder(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := upstream.VerifyWebhookSignature("whsec", r.Header.Get(upstream.WebhookSignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var u struct {
			EventID   string `json:"event_id"`
			SessionID string `json:"session_id"`
			Version   uint64 `json:"version"`
		}
		if err := json.Unmarshal(body, &u); err != nil || u.SessionID == "" || u.EventID == "" || r.Header.Get("Idempotency-Key") != u.EventID {
			t.Errorf("webhook body %s (Idempotency-Key %q): %v", body, r.Header.Get("Idempotency-Key"), err)
		}
		gate, leave := rc.enter(u.SessionID, arrival{version: u.Version, eventID: u.EventID, at: time.Now()})
		defer leave()
		if rc.wait(r, gate) != nil {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// talonServer validates each request against Talon.One's OpenAPI document
// and records the quantity of product "p" in the cart it was sent, which
// the tests make the session's version.
func talonServer(t *testing.T) (*recorder, string) {
	rc := newRecorder(t)
	router := spectest.Load(t, spectest.TalonOne).Router
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := validateTalon(router, r, body); err != nil {
			t.Errorf("Talon.One request against the spec: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/v2/customer_sessions/")
		var req struct {
			CustomerSession struct {
				CartItems []struct {
					SKU      string `json:"sku"`
					Quantity uint64 `json:"quantity"`
				} `json:"cartItems"`
			} `json:"customerSession"`
		}
		json.Unmarshal(body, &req)
		var q uint64
		for _, it := range req.CustomerSession.CartItems {
			if it.SKU == "p" {
				q = it.Quantity
			}
		}
		gate, leave := rc.enter(id, arrival{version: q, at: time.Now()})
		defer leave()
		if rc.wait(r, gate) != nil {
			return
		}
		// No effects: feedback would be a write of its own, and the tests
		// count versions exactly.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"createdCoupons":[],"createdReferrals":[]}`))
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

// validateTalon checks r (with body) against the spec: route, parameters,
// the ApiKey-v1 scheme and the body's schema.
func validateTalon(router routers.Router, r *http.Request, body []byte) error {
	rr := r.Clone(context.Background())
	rr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(rr)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: rr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: talonAuth},
	})
}

func talonAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "api_key_v1" {
		return in.NewError(errors.New("only ApiKey-v1 is used"))
	}
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "ApiKey-v1 talon-key") {
		return in.NewError(errors.New("no Authorization: ApiKey-v1 <key>"))
	}
	return nil
}

// shopServer is the storefront: a fixed page, which every visitor must
// get byte for byte.
func shopServer(t *testing.T) (page []byte, url string) {
	page = []byte("<!doctype html><title>shop</title><p>" + strings.Repeat("the shop's own bytes ", 200) + "</p>\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return page, srv.URL
}

//go:build linux

package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
	"github.com/sessiontap/caddy-sessiontap/webhook"
)

// The delivery upstreams' credentials, as every node is configured.
const (
	HMACKey       = "fleettest-hmac-key-0123456789abcdef"
	TalonKey      = "talon-key"
	WebhookSecret = "whsec"
)

// Arrival is one delivery as an upstream saw it start.
type Arrival struct {
	Version uint64 // the webhook's version; at Talon.One the quantity of product "p" (see StartUpstreams)
	Epoch   int64  // the webhook's epoch; 0 at Talon.One
	EventID string // the webhook's event_id; "" at Talon.One
	At      time.Time
}

// Recorder tracks, per session, what arrived and how many requests for it
// were open at once. While held, new requests wait until released or until
// their client goes away (a node killed or giving up): they then return
// without an answer.
type Recorder struct {
	mu       sync.Mutex
	arrivals map[string][]Arrival
	open     map[string]int
	overlaps []string
	gate     chan struct{} // nil: not held
	failHeld atomic.Bool   // the held requests, released, answer 503
	// Started gets the session id of every request as it arrives.
	Started chan string
}

func newRecorder() *Recorder {
	return &Recorder{arrivals: map[string][]Arrival{}, open: map[string]int{}, Started: make(chan string, 100000)}
}

// Hold makes the requests that arrive from now on wait; Release lets them
// all go.
func (rc *Recorder) Hold() {
	rc.mu.Lock()
	rc.gate = make(chan struct{})
	rc.mu.Unlock()
}

func (rc *Recorder) Release() { rc.release(false) }

// ReleaseFailing lets the held requests go with a 503, so that each would
// be retried unless something (a GDPR delete) cancelled it.
func (rc *Recorder) ReleaseFailing() { rc.release(true) }

func (rc *Recorder) release(failing bool) {
	rc.failHeld.Store(failing)
	rc.mu.Lock()
	if rc.gate != nil {
		close(rc.gate)
		rc.gate = nil
	}
	rc.mu.Unlock()
}

// enter records an arrival and returns the gate to wait on and a leave.
func (rc *Recorder) enter(id string, a Arrival) (<-chan struct{}, func()) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.arrivals[id] = append(rc.arrivals[id], a)
	rc.open[id]++
	if rc.open[id] > 1 {
		rc.overlaps = append(rc.overlaps, id)
	}
	rc.Started <- id
	return rc.gate, func() {
		rc.mu.Lock()
		rc.open[id]--
		rc.mu.Unlock()
	}
}

// answer waits for the gate, if any, and reports whether the request is
// to be answered with success: not when its client went away first (it
// is then not answered), nor when it was held and released failing (it
// gets a 503).
func (rc *Recorder) answer(w http.ResponseWriter, r *http.Request, gate <-chan struct{}) bool {
	if gate == nil {
		return true
	}
	select {
	case <-gate:
	case <-r.Context().Done():
		return false
	}
	if rc.failHeld.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	return true
}

// Of is what arrived for session id, in order of arrival. The upstreams
// get our ids as their pseudonyms, under the nodes' hmac_key.
func (rc *Recorder) Of(id string) []Arrival {
	sent := delivery.NewPseudonyms([]byte(HMACKey)).SessionID(id)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Arrival(nil), rc.arrivals[sent]...)
}

// Overlaps lists a session each time a request for it arrived while
// another was open.
func (rc *Recorder) Overlaps() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.overlaps...)
}

// Last is the highest version that arrived for id.
func (rc *Recorder) Last(id string) uint64 {
	var v uint64
	for _, a := range rc.Of(id) {
		v = max(v, a.Version)
	}
	return v
}

// Has reports whether version v of id has arrived.
func (rc *Recorder) Has(id string, v uint64) bool {
	for _, a := range rc.Of(id) {
		if a.Version == v {
			return true
		}
	}
	return false
}

// Upstreams are the delivery sinks every node forwards to: a fake
// Talon.One that checks every request against Talon.One's OpenAPI document,
// and a webhook receiver that checks signatures and event ids.
type Upstreams struct {
	Talon, Hook       *Recorder
	talonURL, hookURL string
}

// StartUpstreams starts both, closed when the test ends. Talon.One records
// as version the quantity of product "p" in the cart it was sent: tests
// that want to see the order there make that the session's version (cart).
func StartUpstreams(t testing.TB) *Upstreams {
	t.Helper()
	u := &Upstreams{}
	u.Talon, u.talonURL = talonServer(t)
	u.Hook, u.hookURL = webhookServer(t)
	return u
}

// Extra is the sessiontap subdirectives that forward to the upstreams
// with these delivery settings (lines of `delivery { … }`).
func (u *Upstreams) Extra(delivery string) string {
	return fmt.Sprintf("hmac_key %s\nforward talonone %s {\n\tapi_key %s\n}\nforward webhook %s {\n\tsecret %s\n}\n"+
		"delivery {\n\t%s\n}", HMACKey, u.talonURL, TalonKey, u.hookURL, WebhookSecret,
		strings.ReplaceAll(strings.TrimSpace(delivery), "\n", "\n\t"))
}

// Deliver is a StartFleet tweak: nodes that forward to u.
func (u *Upstreams) Deliver(delivery string) func(*NodeConfig) {
	return func(c *NodeConfig) { c.Extra = u.Extra(delivery) }
}

// serve starts h, closed when the test ends, held requests let go first.
func serve(t testing.TB, rc *Recorder, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(func() { rc.Release(); srv.Close() })
	return srv.URL
}

// webhookServer verifies each request's signature and event id and records
// its session, version and event id.
func webhookServer(t testing.TB) (*Recorder, string) {
	rc := newRecorder()
	return rc, serve(t, rc, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(WebhookSecret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var u struct {
			EventID   string `json:"event_id"`
			SessionID string `json:"session_id"`
			Epoch     int64  `json:"epoch"`
			Version   uint64 `json:"version"`
		}
		if err := json.Unmarshal(body, &u); err != nil || u.SessionID == "" || u.EventID == "" || u.Epoch <= 0 ||
			r.Header.Get("Idempotency-Key") != u.EventID {
			t.Errorf("webhook body %s (Idempotency-Key %q): %v", body, r.Header.Get("Idempotency-Key"), err)
		}
		gate, leave := rc.enter(u.SessionID, Arrival{Version: u.Version, Epoch: u.Epoch, EventID: u.EventID, At: time.Now()})
		defer leave()
		if !rc.answer(w, r, gate) {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// talonServer validates each request against Talon.One's OpenAPI document
// and records the quantity of product "p" in the cart it was sent.
func talonServer(t testing.TB) (*Recorder, string) {
	rc := newRecorder()
	router := spectest.Load(t, spectest.TalonOne).Router
	return rc, serve(t, rc, func(w http.ResponseWriter, r *http.Request) {
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
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("Talon.One request %s: %v", body, err)
		}
		var q uint64
		for _, it := range req.CustomerSession.CartItems {
			if it.SKU == "p" {
				q = it.Quantity
			}
		}
		gate, leave := rc.enter(id, Arrival{Version: q, At: time.Now()})
		defer leave()
		if !rc.answer(w, r, gate) {
			return
		}
		// No effects: feedback would be a write of its own, and the tests
		// count versions exactly.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"createdCoupons":[],"createdReferrals":[]}`))
	})
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
	if got := in.RequestValidationInput.Request.Header.Get("Authorization"); got != "ApiKey-v1 "+TalonKey {
		return in.NewError(fmt.Errorf("authorization header %q, not ApiKey-v1 and the configured key", got))
	}
	return nil
}

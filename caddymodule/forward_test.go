package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/webhook"
)

// receiver is a webhook endpoint that verifies every signature and keeps
// the versions it was sent, per session.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	versions map[string][]uint64
	status   int           // answer; 0 = 204
	gate     chan struct{} // when set, requests wait for it to close
	arrived  chan struct{} // signalled when a verified request arrives
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, versions: map[string][]uint64{}, arrived: make(chan struct{}, 10000)}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify("whsec", r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		rc.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(400)
		return
	}
	rc.arrived <- struct{}{}
	rc.mu.Lock()
	gate := rc.gate
	rc.mu.Unlock()
	if gate != nil {
		<-gate
	}
	var u struct {
		SessionID string `json:"session_id"`
		Version   uint64 `json:"version"`
	}
	json.Unmarshal(body, &u)
	rc.mu.Lock()
	if rc.status == 0 {
		rc.versions[u.SessionID] = append(rc.versions[u.SessionID], u.Version)
	}
	status := rc.status
	rc.mu.Unlock()
	if status == 0 {
		status = 204
	}
	w.WriteHeader(status)
}

// hold makes the requests from now on wait until the returned func is
// called; arrivals before it are forgotten.
func (rc *receiver) hold() (release func()) {
	for len(rc.arrived) > 0 {
		<-rc.arrived
	}
	gate := make(chan struct{})
	rc.mu.Lock()
	rc.gate = gate
	rc.mu.Unlock()
	return func() { close(gate) }
}

// testHMACKey is the hmac_key of the configs whose deliveries a receiver
// reads: our ids arrive as their pseudonyms under it.
const testHMACKey = "caddymodule-test-hmac-key-0123"

// seen is the versions of session id that arrived, under its pseudonym
// (testHMACKey).
func (rc *receiver) seen(id string) []uint64 {
	sent := delivery.NewPseudonyms([]byte(testHMACKey)).SessionID(id)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]uint64(nil), rc.versions[sent]...)
}

// waitFor polls cond for up to 5 s: deliveries are asynchronous by design.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func forwardConfig(webhook, body string) string {
	return siteConfig(`
		forward webhook `+webhook+` {
			secret whsec
		}
		hmac_key `+testHMACKey+`
		delivery {
			max_attempts 100
		}`, body)
}

func TestForwardWebhookInVersionOrder(t *testing.T) {
	rc, srv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(forwardConfig(srv.URL, "shop"), "caddyfile")
	var last session
	for i := 1; i <= 30; i++ {
		last = collect(t, tester, fmt.Sprintf(`{"cart":{"items":[{"product_id":"p","quantity":%d,"unit_price":1}]}}`, i))
	}
	waitFor(t, "the last version", func() bool {
		v := rc.seen(last.ID)
		return len(v) > 0 && v[len(v)-1] == last.Version
	})
	v := rc.seen(last.ID)
	for i := 1; i < len(v); i++ {
		if v[i] <= v[i-1] {
			t.Fatalf("versions out of order: %v", v)
		}
	}
}

func TestReloadKeepsPendingDeliveries(t *testing.T) {
	rc, srv := newReceiver(t)
	release := rc.hold()
	tester := newTester(t)
	tester.InitServer(forwardConfig(srv.URL, "before"), "caddyfile")
	s := collect(t, tester, cartBody)
	select { // the delivery is in flight, held at the upstream
	case <-rc.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery arrived")
	}

	// Same forward config, other site config: the engine is kept.
	tester.InitServer(forwardConfig(srv.URL, "after"), "caddyfile")
	if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != "after" {
		t.Fatalf("reload not active: %q", body)
	}
	s2 := collect(t, tester, `{"cart":{}}`) // queued behind the held one
	release()
	waitFor(t, "both versions after the reload", func() bool {
		v := rc.seen(s.ID)
		return len(v) == 2 && v[0] == s.Version && v[1] == s2.Version
	})
}

func TestUpstreamDownKeepsShopFastAndQueueBounded(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.status = 503
	tester := newTester(t)
	tester.InitServer(siteConfig(`
		forward webhook `+srv.URL+` {
			secret whsec
		}
		delivery {
			queue_size 5
			max_attempts 1000
		}`, "shop"), "caddyfile")
	// 40 visitors, each with a cart: every collect answers at once although
	// every delivery fails; at most queue_size sessions wait.
	for i := 0; i < 40; i++ {
		res, body := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "Cookie", "", "Content-Type", "application/json")
		if res.StatusCode != 200 {
			t.Fatalf("collect %d: %d %s", i, res.StatusCode, body)
		}
		tester.Client.Jar = nil // a new visitor next time
	}
	_, metrics := do(t, tester, "GET", "http://localhost:2999/metrics", "")
	depth := metricValue(metrics, "caddy_sessiontap_delivery_queue_sessions")
	if depth < 1 || depth > 5 {
		t.Errorf("queue depth %v, want 1..5", depth)
	}
	if metricValue(metrics, `caddy_sessiontap_deliveries_total{outcome="dropped",sink="webhook"}`) < 35 {
		t.Errorf("overflow not counted:\n%s", grepLines(metrics, "sessiontap"))
	}
}

func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

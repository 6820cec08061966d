package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// GET {prefix}/sessions/{id}/deliveries through a real Caddy, with the
// embedded store and with Redis: a failing sink's error and retry, then
// the delivered version; the cookie's value is taken for the id.
func TestSessionDeliveriesAPI(t *testing.T) {
	var calls atomic.Int32
	upstreamSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte("upstream is down"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer upstreamSrv.Close()
	eachStore(t, func(t *testing.T, store, _ string) {
		calls.Store(0)
		tester := newTester(t)
		tester.InitServer(storeSiteConfig(store, `
		forward webhook `+upstreamSrv.URL+` {
			secret whsec
		}
		delivery {
			max_backoff 300ms
		}`, "shop"), "caddyfile")
		res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "Content-Type", "application/json")
		if res.StatusCode != 200 {
			t.Fatalf("collect: %d %s", res.StatusCode, out)
		}
		cookie := ""
		for _, c := range res.Cookies() {
			if c.Name == DefaultCookieName {
				cookie = c.Value
			}
		}
		if !strings.Contains(cookie, ".") {
			t.Fatalf("cookie value %q", cookie)
		}
		type status struct {
			SessionID string `json:"session_id"`
			Version   uint64 `json:"version"`
			Sinks     []struct {
				Sink             string `json:"sink"`
				DeliveredVersion uint64 `json:"delivered_version"`
				LastError        *struct {
					Status  int    `json:"status"`
					Message string `json:"message"`
				} `json:"last_error"`
			} `json:"sinks"`
		}
		get := func() status {
			res, out := do(t, tester, "GET", opsURL+"/sessions/"+cookie+"/deliveries", "",
				"Authorization", "Bearer test-key")
			if res.StatusCode != 200 {
				t.Fatalf("deliveries: %d %s", res.StatusCode, out)
			}
			var st status
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		waitFor(t, "delivered after the retry", func() bool {
			st := get()
			return len(st.Sinks) == 1 && st.Sinks[0].DeliveredVersion == 1
		})
		st := get()
		if st.Version != 1 || st.Sinks[0].Sink != "webhook" || st.Sinks[0].LastError == nil ||
			st.Sinks[0].LastError.Status != 500 || !strings.Contains(st.Sinks[0].LastError.Message, "upstream is down") {
			t.Errorf("status %+v", st)
		}
		if res, _ := do(t, tester, "GET", opsURL+"/sessions/nope/deliveries", "",
			"Authorization", "Bearer test-key"); res.StatusCode != 404 {
			t.Errorf("unknown session: %d", res.StatusCode)
		}
		if res, _ := do(t, tester, "GET", opsURL+"/sessions/"+cookie+"/deliveries", ""); res.StatusCode != 401 {
			t.Errorf("without a key: %d", res.StatusCode)
		}
	})
}

// A sink that always fails is given up after max_attempts, and the
// deliveries answer says so: state given_up, the attempts made, when,
// and the last error, with no retry due; with both stores.
func TestSessionDeliveriesGivenUp(t *testing.T) {
	var calls atomic.Int32
	upstreamSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("upstream is down"))
	}))
	defer upstreamSrv.Close()
	eachStore(t, func(t *testing.T, store, _ string) {
		calls.Store(0)
		tester := newTester(t)
		tester.InitServer(storeSiteConfig(store, `
		forward webhook `+upstreamSrv.URL+` {
			secret whsec
		}
		delivery {
			max_attempts 2
			max_backoff 100ms
		}`, "shop"), "caddyfile")
		res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "Content-Type", "application/json")
		if res.StatusCode != 200 {
			t.Fatalf("collect: %d %s", res.StatusCode, out)
		}
		cookie := ""
		for _, c := range res.Cookies() {
			if c.Name == DefaultCookieName {
				cookie = c.Value
			}
		}
		type sink struct {
			Sink          string `json:"sink"`
			State         string `json:"state"`
			Attempts      int    `json:"attempts"`
			GivenUpAt     string `json:"given_up_at"`
			NextAttemptAt string `json:"next_attempt_at"`
			LastError     *struct {
				Status  int    `json:"status"`
				Message string `json:"message"`
			} `json:"last_error"`
		}
		get := func() (sink, string) {
			res, out := do(t, tester, "GET", opsURL+"/sessions/"+cookie+"/deliveries", "",
				"Authorization", "Bearer test-key")
			if res.StatusCode != 200 {
				t.Fatalf("deliveries: %d %s", res.StatusCode, out)
			}
			var st struct{ Sinks []sink }
			if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Sinks) != 1 {
				t.Fatalf("deliveries %s: %v", out, err)
			}
			return st.Sinks[0], out
		}
		waitFor(t, "given up", func() bool { s, _ := get(); return s.State == "given_up" })
		s, out := get()
		if s.Sink != "webhook" || s.Attempts != 2 || s.GivenUpAt == "" || s.NextAttemptAt != "" ||
			s.LastError == nil || s.LastError.Status != 500 || !strings.Contains(s.LastError.Message, "upstream is down") {
			t.Errorf("given up: %s", out)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("the receiver got %d attempts, want 2", n)
		}
	})
}

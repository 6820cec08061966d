package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A sink added after 1,000 sessions were written gets every one of them
// when an operator replays since before they were written, through a
// real Caddy, with the embedded store and with Redis; progress is read
// from the same route, and a second replay while one runs is refused.
func TestReplayToALateSinkThroughCaddy(t *testing.T) {
	t.Run("bigcache", func(t *testing.T) { replayToALateSink(t, "") })
	t.Run("redis", func(t *testing.T) {
		block, _ := redisStoreBlock(t)
		replayToALateSink(t, block)
	})
}

func replayToALateSink(t *testing.T, store string) {
	const n = 1000
	rc, srv := newReceiver(t)
	site := func(forward string) string {
		return siteConfigWith(store+`
		limits {
			new_sessions off
			collect off
		}
		hmac_key `+testHMACKey+forward, `respond "shop"`) + opsSite(store, "")
	}
	tester := newTester(t)
	tester.InitServer(site(""), "caddyfile")
	since := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	var ids []string
	for i := range n {
		res, out := from(t, tester, "192.0.2.1", "POST", collectURL,
			fmt.Sprintf(`{"cart":{"items":[{"product_id":"p%d","quantity":1,"unit_price":1}]}}`, i))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("collect %d: %d %s", i, res.StatusCode, out)
		}
		ids = append(ids, collectedID(t, tester, res, nil))
	}
	tester.InitServer(site(fmt.Sprintf(`
		forward webhook %s {
			secret whsec
		}`, srv.URL)), "caddyfile")
	auth := []string{"Authorization", "Bearer test-key"}
	// Without the operator's key, or on the shop's site, no replay starts.
	for _, u := range []string{opsURL + "/sinks/webhook/replay", "http://localhost:9080/_sessiontap/api/sinks/webhook/replay"} {
		if res, out := do(t, tester, "POST", u+"?since="+since.Format(time.RFC3339), ""); res.StatusCode == http.StatusAccepted {
			t.Fatalf("POST %s without a key: %d %s", u, res.StatusCode, out)
		}
	}
	res, out := do(t, tester, "POST", opsURL+"/sinks/webhook/replay?since="+since.Format(time.RFC3339), "", auth...)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("replay: %d %s", res.StatusCode, out)
	}
	if res, _ := do(t, tester, "POST", opsURL+"/sinks/webhook/replay?since="+since.Format(time.RFC3339), "", auth...); res.StatusCode != http.StatusConflict {
		t.Errorf("a second replay while one runs: %d, want 409", res.StatusCode)
	}
	if res, _ := do(t, tester, "POST", opsURL+"/sinks/nosuch/replay?since="+since.Format(time.RFC3339), "", auth...); res.StatusCode != http.StatusNotFound {
		t.Errorf("a replay to no such sink: %d, want 404", res.StatusCode)
	}
	if res, out := do(t, tester, "POST", opsURL+"/sinks/webhook/replay?since=yesterday", "", auth...); res.StatusCode != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d %s, want 400 naming the field", res.StatusCode, out)
	}
	var st struct {
		State  string `json:"state"`
		Queued int    `json:"queued"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, out := do(t, tester, "GET", opsURL+"/sinks/webhook/replay", "", auth...)
		_ = json.Unmarshal([]byte(out), &st)
		got := 0
		for _, id := range ids {
			if len(rc.seen(id)) > 0 {
				got++
			}
		}
		if st.State == "done" && got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %s, %d of %d sessions delivered", out, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The store may hold other tests' sessions of the same second.
	if st.Queued < n {
		t.Errorf("the replay queued %d sessions, want at least %d", st.Queued, n)
	}
}

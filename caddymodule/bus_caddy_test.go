package caddymodule

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A reload provisions the new config, then cleans up the old: the bus's
// subscribers follow the pooled engine and feed, never a config, so a
// write after any number of reloads is delivered once and shown once,
// and a reload that changes the sinks hands the subscription over.
func TestBusSubscriptionsFollowThePooledObjects(t *testing.T) {
	br, srv := newBodyReceiver(t, true, "")
	config := func(body, secret string) string {
		return siteConfigWith(fmt.Sprintf("\t\tforward webhook %s/hook {\n\t\t\tsecret %s\n\t\t}", srv.URL, secret), `respond "`+body+`"`) +
			opsSite("", "\t\tinspector")
	}
	tester := newTester(t)
	for _, body := range []string{"one", "two", "three"} { // reloads that keep the engine and the feed
		tester.InitServer(config(body, "whsec"), "caddyfile")
	}
	b := hubFor(t, "bigcache/default")
	// The metrics', the engine's and the feed's.
	if n := b.changes.Subscribers(); n != 3 {
		t.Fatalf("%d subscribers to the store's writes after three loads, want 3", n)
	}
	res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "Content-Type", "application/json")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("collect: %d %s", res.StatusCode, out)
	}
	waitFor(t, "the webhook's delivery", func() bool { return br.count() >= 1 })
	time.Sleep(200 * time.Millisecond) // a second delivery would come now
	if n := br.count(); n != 1 {
		t.Errorf("one write delivered %d times", n)
	}

	// New sinks: a new engine takes the writes, the old one lets go.
	tester.InitServer(config("four", "whsec-2"), "caddyfile")
	if n := b.changes.Subscribers(); n != 3 {
		t.Errorf("%d subscribers after the sinks changed, want 3", n)
	}
}

func hubFor(t *testing.T, identity string) *hub {
	t.Helper()
	v, ok := hubs.Load(identity)
	if !ok {
		t.Fatalf("no hub for %s", identity)
	}
	return v.(*hub)
}

func (br *bodyReceiver) count() int {
	br.mu.Lock()
	defer br.mu.Unlock()
	return len(br.got)
}

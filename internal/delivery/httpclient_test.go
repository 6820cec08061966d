package delivery

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// A sink delivering 8 at once keeps 8 connections: with Go's default
// transport (2 idle per host) most deliveries opened a new one.
func TestSinkClientKeepsItsConnections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		client  *http.Client
		atMost  int64
		atLeast int64
	}{
		{"NewClient(8)", NewClient(8), 8, 1},
		// 2 idle per host: 6 new connections a round.
		{"default transport", &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, 1 << 30, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			// Requests wait until 8 are in flight (or 100 ms pass), so that
			// every round uses 8 connections at once, however slow the
			// machine: what a transport keeps idle between rounds is then
			// exactly what decides how many it opens.
			var mu sync.Mutex
			waiting, release := 0, make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ch := release
				if waiting++; waiting == 8 {
					close(release)
					waiting, release = 0, make(chan struct{})
				}
				mu.Unlock()
				select {
				case <-ch:
				case <-time.After(100 * time.Millisecond):
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			wh, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "s", Client: tc.client})
			if err != nil {
				t.Fatal(err)
			}
			e, results := newTestEngine(t, Config{Concurrency: 8}, nil)
			e.AddSink(wh, SinkOptions{})
			// Bursts of 8 with a pause between them, as traffic comes: in
			// the pause a transport keeps only what it may keep idle.
			const rounds = 25
			for r := range rounds {
				for i := range 8 {
					e.Enqueue(newUpd(fmt.Sprintf("s%d-%d", r, i), 1, model.ChangeCart))
				}
				await(t, results, "webhook", OutcomeDelivered, 8)
			}
			closeEngine(t, e)
			if got := conns.Load(); got > tc.atMost || got < tc.atLeast {
				t.Errorf("%d connections for %d deliveries, want %d to %d", got, 8*rounds, tc.atLeast, tc.atMost)
			}
		})
	}
}

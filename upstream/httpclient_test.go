package upstream

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
		{"default transport", &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, 1 << 30, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(2 * time.Millisecond) // deliveries overlap
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
			const n = 400
			for i := range n {
				e.Enqueue(newUpd(fmt.Sprintf("s%d", i), 1, model.ChangeCart))
			}
			await(t, results, "webhook", OutcomeDelivered, n)
			closeEngine(t, e)
			if got := conns.Load(); got > tc.atMost || got < tc.atLeast {
				t.Errorf("%d connections for %d deliveries, want %d to %d", got, n, tc.atLeast, tc.atMost)
			}
		})
	}
}

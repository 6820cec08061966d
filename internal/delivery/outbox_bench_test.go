package delivery

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// BenchmarkOutboxDeliveries is BenchmarkDeliveries through the Redis
// outbox, with one node and with two (two outboxes with their own
// clients, as two Caddy processes would have, sharing the queue): each
// delivery costs an enqueue, a share of a claim and a completion in Redis.
func BenchmarkOutboxDeliveries(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const conc = 32
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			prefix := redistest.Prefix(b)
			tr := &http.Transport{MaxIdleConnsPerHost: n * conc, MaxConnsPerHost: n * conc}
			defer tr.CloseIdleConnections()
			sink := &loopbackSink{url: srv.URL, client: &http.Client{Transport: tr}}
			var nodes []Deliverer
			for range n {
				o, err := NewOutbox(redistest.Client(b), OutboxConfig{Prefix: prefix,
					Config: Config{Concurrency: conc, QueueSize: benchSessions}}, nil)
				if err != nil {
					b.Fatal(err)
				}
				nodes = append(nodes, o)
			}
			benchFleetDeliveries(b, sink, nodes...)
		})
	}
}

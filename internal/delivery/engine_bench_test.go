package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// loopbackSink POSTs a small JSON body per update to a local server.
type loopbackSink struct {
	url    string
	client *http.Client
}

func (s *loopbackSink) Name() string { return "loopback" }

func (s *loopbackSink) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	body, err := json.Marshal(struct {
		ID      string `json:"id"`
		Version uint64 `json:"version"`
		Event   string `json:"event"`
	}{u.Session.ID, u.Session.Version, u.EventID})
	if err != nil {
		return Feedback{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Feedback{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return Feedback{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return Feedback{}, &DeliveryError{Status: resp.StatusCode, Retryable: resp.StatusCode >= 500}
	}
	return Feedback{}, nil
}

// BenchmarkDeliveries measures deliveries per second to a loopback HTTP
// server answering 204, over keep-alive connections: 1000 sessions, each
// sending its next update once the previous one is delivered, so nothing
// is coalesced. One op is one delivery.
func BenchmarkDeliveries(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, conc := range []int{8, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
			defer tr.CloseIdleConnections()
			benchDeliveries(b, conc, &loopbackSink{url: srv.URL, client: &http.Client{Transport: tr}})
		})
	}
}

// signalSink tells each session's producer when its update got through.
type signalSink struct {
	Sink
	done map[string]chan struct{} // read-only once delivering
}

func (s *signalSink) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	fb, err := s.Sink.Deliver(ctx, u)
	if err == nil {
		s.done[u.Session.ID] <- struct{}{}
	}
	return fb, err
}

func benchDeliveries(b *testing.B, concurrency int, sink Sink) {
	e := New(Config{Concurrency: concurrency, QueueSize: benchSessions}, nil)
	benchFleetDeliveries(b, sink, e)
}

// benchSessions is how many sessions the delivery benchmarks update.
const benchSessions = 1000

// benchFleetDeliveries runs the delivery benchmark through nodes, each
// session's updates enqueued on the nodes in turn.
func benchFleetDeliveries(b *testing.B, sink Sink, nodes ...Deliverer) {
	sig := &signalSink{Sink: sink, done: map[string]chan struct{}{}}
	ids := make([]string, benchSessions)
	for i := range ids {
		ids[i] = fmt.Sprint("session-", i)
		sig.done[ids[i]] = make(chan struct{}, 1)
	}
	for _, e := range nodes {
		e.AddSink(sig, SinkOptions{On: OnAction})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, id := range ids {
		n := b.N / benchSessions
		if i < b.N%benchSessions {
			n++
		}
		wg.Go(func() {
			for v := 1; v <= n; v++ {
				nodes[v%len(nodes)].Enqueue(newUpd(id, uint64(v), model.ChangeCart))
				<-sig.done[id]
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var delivered uint64
	for _, e := range nodes {
		if err := e.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		delivered += e.Stats()[0].Delivered
	}
	if delivered != uint64(b.N) {
		b.Fatalf("%d delivered of %d updates", delivered, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}

type nopSink struct{}

func (nopSink) Name() string { return "nop" }
func (nopSink) Deliver(context.Context, *Update) (Feedback, error) {
	return Feedback{}, nil
}

// blockedSink never answers before its context ends.
type blockedSink struct{}

func (blockedSink) Name() string { return "blocked" }
func (blockedSink) Deliver(ctx context.Context, _ *Update) (Feedback, error) {
	<-ctx.Done()
	return Feedback{}, ctx.Err()
}

// BenchmarkEnqueue measures the request path's cost over 1000 sessions:
// to a sink whose workers deliver at once (and so contend for its lock),
// and to a blocked sink (every update coalesces with a waiting one). One
// alloc per op is the benchmark's own Update.
func BenchmarkEnqueue(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprint("session-", i)
	}
	for _, sink := range []Sink{nopSink{}, blockedSink{}} {
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("sink=%s/parallel=%v", sink.Name(), parallel), func(b *testing.B) {
				benchEnqueue(b, sink, ids, parallel)
			})
		}
	}
}

func benchEnqueue(b *testing.B, sink Sink, ids []string, parallel bool) {
	e := New(Config{}, nil)
	e.AddSink(sink, SinkOptions{})
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no drain
		_ = e.Close(ctx)
	}()
	upd := func(i uint64) *Update {
		return &Update{Session: model.Session{ID: ids[i%uint64(len(ids))], Version: i}, Changed: model.ChangeCart}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			e.Enqueue(upd(uint64(i + 1)))
		}
		return
	}
	var seq atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Enqueue(upd(seq.Add(1)))
		}
	})
}

package delivery

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// fakeSink records its calls and can be slow, block, or fail.

type fakeSink struct {
	name    string
	gate    chan struct{} // when set, calls wait until it is closed (or ctx is done)
	delay   time.Duration // a slow upstream
	started chan *Update  // when set, receives each call's update as it starts
	answer  func(u *Update, call int) (Feedback, error)

	n        atomic.Int32
	cur, max atomic.Int32
	overlap  atomic.Bool // two calls for one session at once

	mu       sync.Mutex
	calls    []fakeCall
	sessions map[string]*atomic.Int32
}

type fakeCall struct {
	id      string
	version uint64
	at      time.Time
	eventID string
}

func (f *fakeSink) Name() string { return f.name }

func (f *fakeSink) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	n := f.n.Add(1)
	defer f.enter(u.Session.ID)()
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{u.Session.ID, u.Session.Version, time.Now(), u.EventID})
	f.mu.Unlock()
	if f.started != nil {
		f.started <- u
	}
	if err := f.wait(ctx); err != nil {
		return Feedback{}, err
	}
	if f.answer != nil {
		return f.answer(u, int(n))
	}
	return Feedback{}, nil
}

// enter tracks concurrency, overall and per session; the returned func leaves.

func (f *fakeSink) enter(id string) func() {
	c := f.cur.Add(1)
	for m := f.max.Load(); c > m && !f.max.CompareAndSwap(m, c); m = f.max.Load() {
	}
	f.mu.Lock()
	if f.sessions == nil {
		f.sessions = map[string]*atomic.Int32{}
	}
	ps := f.sessions[id]
	if ps == nil {
		ps = new(atomic.Int32)
		f.sessions[id] = ps
	}
	f.mu.Unlock()
	if ps.Add(1) > 1 {
		f.overlap.Store(true)
	}
	return func() { ps.Add(-1); f.cur.Add(-1) }
}

func (f *fakeSink) wait(ctx context.Context) error {
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeSink) versions(id string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var vs []uint64
	for _, c := range f.calls {
		if c.id == id {
			vs = append(vs, c.version)
		}
	}
	return vs
}

func (f *fakeSink) callList() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

func newUpd(id string, v uint64, ch model.Change, cart ...string) *Update {
	u := &Update{EventID: fmt.Sprintf("%s-%d", id, v), Changed: ch, OccurredAt: time.Now()}
	u.Session.ID, u.Session.Version = id, v
	for _, p := range cart {
		u.Session.Cart.Items = append(u.Session.Cart.Items, model.CartItem{ProductID: p, Quantity: 1})
	}
	return u
}

type result struct{ sink, outcome string }

// results collects an engine's outcomes for await.

type results struct {
	ch   chan result
	seen map[result]int
}

// newTestEngine returns an engine with fast backoffs and its results.

func newTestEngine(t *testing.T, cfg Config, log *zap.Logger) (*Engine, *results) {
	t.Helper()
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Millisecond
	}
	e := New(cfg, log)
	r := collectResults(t, e)
	return e, r
}

// collectResults collects d's outcomes for await, and closes d at the
// end of the test.
func collectResults(t *testing.T, d Deliverer) *results {
	r := &results{ch: make(chan result, 1<<16), seen: map[result]int{}}
	d.OnResult(func(sink, outcome string, _ time.Duration) {
		select {
		case r.ch <- result{sink, outcome}:
		default:
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return r
}

// await waits until sink has reported outcome n more times than awaited

// before.

func await(t *testing.T, r *results, sink, outcome string, n int) {
	t.Helper()
	want := result{sink, outcome}
	timeout := time.After(10 * time.Second)
	for r.seen[want] < n {
		select {
		case got := <-r.ch:
			r.seen[got]++
		case <-timeout:
			t.Fatalf("timed out waiting for %d more %s from %s", n-r.seen[want], outcome, sink)
		}
	}
	r.seen[want] -= n
}

func closeEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func stats(e *Engine, i int) SinkStats { return e.Stats()[i] }

// memQueueOf is the in-process engine's queue of its i-th sink.
func memQueueOf(e *Engine, i int) *memQueue { return e.runners()[i].q.(*memQueue) }

// known counts the sessions the queue keeps anything of.
func (q *memQueue) known() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held) + q.idle.len()
}

// undelivered counts the updates held: at most two per session.
func (q *memQueue) undelivered() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, st := range q.held {
		if st.fv > 0 {
			n++
		}
		if st.pv > 0 {
			n++
		}
	}
	return n
}

// remembers reports whether the queue keeps anything of session id.
func (q *memQueue) remembers(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, idle := q.idle.get(id)
	return q.held[id] != nil || idle
}

// checkNoEngineGoroutines fails when a worker or retry timer of an engine

// is still running.

func checkNoEngineGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stack := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stack, "delivery.(*runner)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine goroutines left:\n%s", stack)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func strictlyIncreasing(vs []uint64) bool {
	for i := 1; i < len(vs); i++ {
		if vs[i] <= vs[i-1] {
			return false
		}
	}
	return true
}

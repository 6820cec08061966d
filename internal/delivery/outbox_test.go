package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Two nodes share one sink's queue: per session one attempt at a time
// fleet-wide, versions increasing, each session's last version delivered,
// concurrency bounded per node.
func TestOutboxTwoNodesOrderAndCoalescing(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "hook", delay: 2 * time.Millisecond}
	cfg := OutboxConfig{Config: Config{Concurrency: 4}}
	a, b := newTestNode(t, prefix, cfg, nil), newTestNode(t, prefix, cfg, nil)
	a.AddSink(sink, SinkOptions{})
	b.AddSink(sink, SinkOptions{})
	const sessions, versions = 20, 30
	enqueueAlternating(a, b, sessions, versions)
	checkInOrder(t, sink, sessions, versions)
	if m := sink.max.Load(); m > 8 {
		t.Errorf("%d attempts at once, want at most 2 nodes × 4", m)
	}
	// The calls are recorded as they start: wait for the results too.
	var delivered, superseded int
	eventually(t, "every update accounted for", func() bool {
		sa, sb := a.Stats()[0], b.Stats()[0]
		delivered, superseded = int(sa.Delivered+sb.Delivered), int(sa.Superseded+sb.Superseded)
		return sa.Pending == 0 && delivered+superseded == sessions*versions
	})
	if delivered < sessions || delivered != len(sink.callList()) {
		t.Errorf("delivered %d in %d calls, want at least one per session", delivered, len(sink.callList()))
	}
	t.Logf("delivered %d, superseded %d, max in flight %d", delivered, superseded, sink.max.Load())
}

// A node that stops answering while it holds leases (its Redis client is
// gone, its attempts hang) has them taken over by another node once the
// lease runs out, with the same event ids.
func TestOutboxTakeoverAfterLease(t *testing.T) {
	prefix := redistest.Prefix(t)
	hung := &fakeSink{name: "hook", gate: make(chan struct{}), started: make(chan *Update, 16)}
	lease := 1500 * time.Millisecond
	cfg := OutboxConfig{Config: Config{Timeout: time.Second}, Lease: lease}
	a, kill := mortalNode(t, prefix, cfg)
	a.AddSink(hung, SinkOptions{})
	for i := range 3 {
		a.Enqueue(newUpd(fmt.Sprintf("k%d", i), 1, model.ChangeCart, "x"))
	}
	var first []*Update
	for range 3 {
		first = append(first, <-hung.started)
	}
	kill() // a dies: nothing it does reaches Redis any more
	start := time.Now()
	healthy := &fakeSink{name: "hook"}
	b := newTestNode(t, prefix, cfg, nil)
	b.AddSink(healthy, SinkOptions{})
	for i := range 3 {
		id := fmt.Sprintf("k%d", i)
		eventually(t, id+" taken over", func() bool { return lastVersion(healthy, id) == 1 })
	}
	took := time.Since(start)
	if took < lease/2 {
		t.Errorf("taken over after %s, before the %s lease could have run out", took, lease)
	}
	ids := map[string]string{}
	for _, u := range first {
		ids[u.Session.ID] = u.EventID
	}
	for _, c := range healthy.callList() {
		if ids[c.id] != c.eventID {
			t.Errorf("%s redelivered with event id %q, first attempt had %q", c.id, c.eventID, ids[c.id])
		}
	}
	close(hung.gate)
	t.Logf("taken over %s after the holder died (lease %s)", took, lease)
}

// Close hands the leases of attempts it cuts short back at once: another
// node goes on without waiting for the (long) lease.
func TestOutboxCloseHandsLeasesBack(t *testing.T) {
	prefix := redistest.Prefix(t)
	slow := &fakeSink{name: "hook", gate: make(chan struct{}), started: make(chan *Update, 4)}
	cfg := OutboxConfig{Config: Config{Timeout: 20 * time.Second}, Lease: time.Minute}
	a := newTestNode(t, prefix, cfg, nil)
	a.AddSink(slow, SinkOptions{})
	a.Enqueue(newUpd("r1", 1, model.ChangeCart, "x"))
	<-slow.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.Close(ctx); err == nil {
		t.Error("Close reported nothing cut short")
	}
	start := time.Now()
	next := &fakeSink{name: "hook"}
	b := newTestNode(t, prefix, cfg, nil)
	b.AddSink(next, SinkOptions{})
	eventually(t, "r1 delivered by the next node", func() bool { return lastVersion(next, "r1") == 1 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s: the lease was not handed back", d)
	}
	a.Enqueue(newUpd("r2", 1, model.ChangeCart, "x"))
	if st := a.Stats()[0]; st.Dropped != 1 {
		t.Errorf("an update after Close: %+v, want it dropped", st)
	}
}

// An update whose nodes keep dying with it in flight is given up once its
// attempts are used up, not taken over for ever.
func TestOutboxTakeoverCountsAttempts(t *testing.T) {
	prefix := redistest.Prefix(t)
	hung := &fakeSink{name: "hook", gate: make(chan struct{}), started: make(chan *Update, 4)}
	cfg := OutboxConfig{Config: Config{Timeout: 200 * time.Millisecond, MaxAttempts: 1}, Lease: 500 * time.Millisecond}
	a, kill := mortalNode(t, prefix, cfg)
	a.AddSink(hung, SinkOptions{})
	a.Enqueue(newUpd("poison", 1, model.ChangeCart, "x"))
	<-hung.started
	kill() // its result never reaches Redis
	defer close(hung.gate)
	next := &fakeSink{name: "hook"}
	b := newTestNode(t, prefix, cfg, nil)
	b.AddSink(next, SinkOptions{})
	awaitFleet(t, "failed", func(st SinkStats) uint64 { return st.Failed }, 1, b)
	if calls := next.callList(); len(calls) != 0 {
		t.Errorf("attempted again after its one attempt: %+v", calls)
	}
	st, err := b.Status(context.Background(), "poison")
	if err != nil || len(st) != 1 || st[0].PendingVersion != 0 || st[0].LastError == nil {
		t.Fatalf("status after giving up: %+v %v", st, err)
	}
	// Given up by the claim, not by an attempt's result: it says so alike.
	if st[0].State() != "given_up" || st[0].Attempts != 1 || st[0].GivenUpAt.IsZero() ||
		!strings.Contains(st[0].LastError.Message, "attempts were used up") {
		t.Errorf("status after giving up: %s %+v %+v", st[0].State(), st[0], st[0].LastError)
	}
}

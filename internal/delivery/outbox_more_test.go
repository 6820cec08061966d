package delivery

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Retryable failures are retried (Retry-After honoured) up to
// MaxAttempts; a client error is not.
func TestOutboxRetries(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "hook", answer: func(u *Update, call int) (Feedback, error) {
		switch u.Session.ID {
		case "later":
			if call == 1 {
				return Feedback{}, &DeliveryError{Status: 429, Retryable: true, RetryAfter: 50 * time.Millisecond}
			}
		case "never":
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		case "refused":
			return Feedback{}, &DeliveryError{Status: 400}
		}
		return Feedback{}, nil
	}}
	n := newTestNode(t, prefix, OutboxConfig{Config: Config{MaxAttempts: 3, Concurrency: 1, MaxBackoff: time.Second}}, nil)
	n.AddSink(sink, SinkOptions{})
	for _, id := range []string{"later", "never", "refused"} {
		n.Enqueue(newUpd(id, 1, model.ChangeCart, "x"))
	}
	await(t, n.results, "hook", OutcomeDelivered, 1)
	await(t, n.results, "hook", OutcomeFailed, 2)
	if got := len(sink.versions("never")); got != 3 {
		t.Errorf("never: %d attempts, want MaxAttempts 3", got)
	}
	if got := len(sink.versions("refused")); got != 1 {
		t.Errorf("refused: %d attempts, want 1", got)
	}
	var later []fakeCall
	for _, c := range sink.callList() {
		if c.id == "later" {
			later = append(later, c)
		}
	}
	if len(later) != 2 || later[1].at.Sub(later[0].at) < 50*time.Millisecond {
		t.Errorf("later: %+v, want a retry after Retry-After 50ms", later)
	}
	if st := n.Stats()[0]; st.Retried != 3 || st.Failed != 2 || st.Delivered != 1 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Cancel drops a waiting update and one waiting for its retry, and the
// attempt in flight is not retried.
func TestOutboxCancel(t *testing.T) {
	prefix := redistest.Prefix(t)
	gate := make(chan struct{})
	sink := &fakeSink{name: "hook", started: make(chan *Update, 8), answer: func(u *Update, _ int) (Feedback, error) {
		if u.Session.ID == "gone" {
			<-gate
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		}
		return Feedback{}, nil
	}}
	n := newTestNode(t, prefix, OutboxConfig{Config: Config{MaxBackoff: time.Hour, BaseBackoff: time.Hour}}, nil)
	n.AddSink(sink, SinkOptions{})
	n.Enqueue(newUpd("gone", 1, model.ChangeCart, "x"))
	<-sink.started
	n.Enqueue(newUpd("gone", 2, model.ChangeCart, "y")) // waits behind the one in flight
	n.Cancel("gone")
	close(gate)
	n.Enqueue(newUpd("other", 1, model.ChangeCart, "x"))
	await(t, n.results, "hook", OutcomeDelivered, 1)
	time.Sleep(50 * time.Millisecond)
	if vs := sink.versions("gone"); len(vs) != 1 {
		t.Errorf("gone attempted %v after Cancel", vs)
	}
	eventually(t, "the cancelled attempt's end counted", func() bool { return n.Stats()[0].Dropped == 2 })
	if st := n.Stats()[0]; st.Pending != 0 || st.Retried != 0 {
		t.Errorf("stats %+v, want nothing pending, v2 and the attempt in flight dropped, no retry", st)
	}
}

// A session cancelled while an attempt is in flight, then written again
// (a GDPR delete, then the visitor back): the new update waits for the
// attempt to end, never runs beside it, and is delivered.
func TestOutboxCancelInFlightThenEnqueue(t *testing.T) {
	prefix := redistest.Prefix(t)
	gate := make(chan struct{})
	sink := &fakeSink{name: "hook", started: make(chan *Update, 8), answer: func(u *Update, call int) (Feedback, error) {
		if call == 1 {
			<-gate
		}
		return Feedback{}, nil
	}}
	a, b := newTestNode(t, prefix, OutboxConfig{}, nil), newTestNode(t, prefix, OutboxConfig{}, nil)
	a.AddSink(sink, SinkOptions{})
	b.AddSink(sink, SinkOptions{})
	a.Enqueue(newUpd("g", 1, model.ChangeCart, "x"))
	<-sink.started
	a.Cancel("g")
	b.Enqueue(newUpd("g", 1, model.ChangeCart, "new")) // the session again, versions from 1
	time.Sleep(100 * time.Millisecond)                 // many polls of both nodes
	if got := len(sink.callList()); got != 1 {
		t.Fatalf("%d attempts while the cancelled one is in flight, want it alone", got)
	}
	close(gate)
	eventually(t, "the new update delivered", func() bool { return len(sink.callList()) == 2 })
	if sink.overlap.Load() {
		t.Error("two attempts for one session at once")
	}
	awaitFleet(t, "delivered", func(st SinkStats) uint64 { return st.Delivered }, 1, a, b)
	awaitFleet(t, "dropped", func(st SinkStats) uint64 { return st.Dropped }, 1, a, b)
}

// The delivery state outlives a wait longer than its TTL (a backlog, a
// long Retry-After): it expires only once the session is idle.
func TestOutboxStateOutlivesLongWait(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "hook", answer: func(u *Update, call int) (Feedback, error) {
		if call == 1 {
			return Feedback{}, &DeliveryError{Status: 429, Retryable: true, RetryAfter: 400 * time.Millisecond}
		}
		return Feedback{}, nil
	}}
	n := newTestNode(t, prefix, OutboxConfig{StateTTL: 100 * time.Millisecond, Config: Config{MaxBackoff: time.Second}}, nil)
	n.AddSink(sink, SinkOptions{})
	n.Enqueue(newUpd("w", 1, model.ChangeCart, "x"))
	awaitFleet(t, "delivered after the long retry", func(st SinkStats) uint64 { return st.Delivered }, 1, n)
	key := prefix + "o:hook:s:w"
	eventually(t, "the idle state to expire", func() bool {
		n, err := n.client.Do(context.Background(), n.client.B().Exists().Key(key).Build()).AsInt64()
		return err == nil && n == 0
	})
}

// The queue holds at most QueueSize sessions fleet-wide; a held session's
// newer update still replaces its waiting one.
func TestOutboxQueueBound(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "hook", gate: make(chan struct{})}
	cfg := OutboxConfig{Config: Config{QueueSize: 4, Concurrency: 1}}
	a, b := newTestNode(t, prefix, cfg, nil), newTestNode(t, prefix, cfg, nil)
	a.AddSink(sink, SinkOptions{})
	b.AddSink(sink, SinkOptions{})
	for i := range 6 {
		node := a
		if i%2 == 1 {
			node = b
		}
		node.Enqueue(newUpd(fmt.Sprintf("q%d", i), 1, model.ChangeCart, "x"))
	}
	a.Enqueue(newUpd("q0", 2, model.ChangeCart, "y"))
	dropped := a.Stats()[0].Dropped + b.Stats()[0].Dropped
	if dropped != 2 {
		t.Errorf("%d dropped, want 2 of 6 sessions with room for 4", dropped)
	}
	if p := a.Stats()[0].Pending; p != 4 {
		t.Errorf("pending %d, want 4", p)
	}
	close(sink.gate)
	eventually(t, "q0's newest delivered", func() bool { return lastVersion(sink, "q0") == 2 })
}

// An OnChange sink skips an update whose cart, customer and orders are
// what it last got — whichever node delivered that.
func TestOutboxSkipsUnchangedAcrossNodes(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "hook"}
	a, b := newTestNode(t, prefix, OutboxConfig{}, nil), newTestNode(t, prefix, OutboxConfig{}, nil)
	a.AddSink(sink, SinkOptions{})
	b.AddSink(sink, SinkOptions{})
	delivered := func(st SinkStats) uint64 { return st.Delivered }
	a.Enqueue(newUpd("u", 1, model.ChangeCart, "x"))
	awaitFleet(t, "delivered", delivered, 1, a, b)
	b.Enqueue(newUpd("u", 2, model.ChangeCart, "x")) // same cart
	awaitFleet(t, "skipped", func(st SinkStats) uint64 { return st.Skipped }, 1, a, b)
	b.Enqueue(newUpd("u", 3, model.ChangeCart, "x", "y"))
	awaitFleet(t, "delivered", delivered, 2, a, b)
	if vs := sink.versions("u"); len(vs) != 2 || vs[1] != 3 {
		t.Errorf("delivered %v, want [1 3]", vs)
	}
}

// statefulSink remembers, in the State the engine gives it, the last
// version it saw of each session.
type statefulSink struct {
	fakeSink
	state State
	seen  chan string
}

func (s *statefulSink) UseState(st State) { s.state = st }

func (s *statefulSink) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	prev, _ := s.state.Get(ctx, u.Session.ID)
	s.seen <- prev
	s.state.Put(ctx, u.Session.ID, fmt.Sprint(u.Session.Version))
	return Feedback{}, nil
}

// A sink's state lives in Redis: the node delivering the next update knows
// what another node's delivery left.
func TestOutboxSinkStateShared(t *testing.T) {
	prefix := redistest.Prefix(t)
	sa := &statefulSink{fakeSink: fakeSink{name: "emporix"}, seen: make(chan string, 4)}
	sb := &statefulSink{fakeSink: fakeSink{name: "emporix"}, seen: make(chan string, 4)}
	a, b := newTestNode(t, prefix, OutboxConfig{}, nil), newTestNode(t, prefix, OutboxConfig{}, nil)
	a.AddSink(sa, SinkOptions{})
	a.Enqueue(newUpd("v", 1, model.ChangeCart, "x"))
	if got := <-sa.seen; got != "" {
		t.Errorf("first delivery saw state %q", got)
	}
	awaitFleet(t, "delivered", func(st SinkStats) uint64 { return st.Delivered }, 1, a)
	a.Close(context.Background())
	b.AddSink(sb, SinkOptions{})
	b.Enqueue(newUpd("v", 2, model.ChangeCart, "y"))
	if got := <-sb.seen; got != "1" {
		t.Errorf("node b saw state %q, want node a's 1", got)
	}
}

// When Redis does not answer, updates are dropped and counted, and the
// errors are logged once per interval, not once each.
func TestOutboxRedisDownLogsOnce(t *testing.T) {
	prefix := redistest.Prefix(t)
	core, logs := observer.New(zap.InfoLevel)
	var mu sync.Mutex
	counted := map[string]int{}
	const interval = 500 * time.Millisecond
	srv := startOwnRedis(t)
	n := newTestNodeAt(t, srv.addr, prefix, OutboxConfig{Config: Config{LogInterval: interval},
		OnError: func(op string) { mu.Lock(); counted[op]++; mu.Unlock() }}, zap.New(core))
	n.AddSink(&fakeSink{name: "hook"}, SinkOptions{})
	srv.kill() // Redis gone: nothing listens any more
	start := time.Now()
	eventually(t, "Redis unreachable", func() bool { return n.Stats()[0].Pending == -1 })
	for i := range 50 {
		n.Enqueue(newUpd(fmt.Sprintf("d%d", i), 1, model.ChangeCart, "x"))
	}
	if st := n.Stats()[0]; st.Dropped != 50 || st.Pending != -1 {
		t.Errorf("stats %+v, want 50 dropped and pending unknown", st)
	}
	time.Sleep(interval + 200*time.Millisecond)
	// The poller keeps failing too, so lines keep coming: one per interval
	// since the first error at most, never one per error.
	lines := logs.FilterMessage("outbox: Redis errors").All()
	if most := int(time.Since(start)/interval) + 1; len(lines) == 0 || len(lines) > most {
		t.Fatalf("%d log lines in %s, want 1 to %d", len(lines), time.Since(start), most)
	}
	var logged int64
	for _, l := range lines {
		logged += l.ContextMap()["errors"].(int64)
		if err, _ := l.ContextMap()["error"].(string); err == "" {
			t.Errorf("a line has no error: %v", l.ContextMap())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if counted["enqueue"] != 50 || counted["claim"] == 0 || logged < 50 {
		t.Errorf("errors counted by operation: %v, %d in the log lines; want 50 enqueue, some claim", counted, logged)
	}
}

// ownRedis is a redis-server of the test's own, so that it can be killed
// (a client Close does not stop a rueidis client from reconnecting).
type ownRedis struct {
	addr string
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	redistest.Addr(t) // the same rule: fail under CI, skip elsewhere
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	r := &ownRedis{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	t.Cleanup(r.kill)
	eventually(t, "redis-server listening", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return r
}

func (r *ownRedis) kill() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// An update that changes no data is skipped by an OnChange sink before it
// reaches Redis, and still delivered to an OnAction sink.
func TestOutboxSkipsActionOnlyBeforeRedis(t *testing.T) {
	prefix := redistest.Prefix(t)
	onChange, onAction := &fakeSink{name: "change"}, &fakeSink{name: "action"}
	n := newTestNode(t, prefix, OutboxConfig{}, nil)
	n.AddSink(onChange, SinkOptions{})
	n.AddSink(onAction, SinkOptions{On: OnAction})
	n.Enqueue(newUpd("pv", 1, model.ChangeAction))
	eventually(t, "the action sink's delivery", func() bool { return len(onAction.callList()) == 1 })
	if st := n.Stats()[0]; st.Skipped != 1 || len(onChange.callList()) != 0 {
		t.Errorf("change sink: %+v, %d calls; want it skipped", st, len(onChange.callList()))
	}
	key := prefix + "o:change:s:pv"
	if got, err := n.client.Do(context.Background(), n.client.B().Exists().Key(key).Build()).AsInt64(); err != nil || got != 0 {
		t.Errorf("the skipped update reached Redis (%s exists: %d, %v)", key, got, err)
	}
}

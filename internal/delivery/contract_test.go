package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// The delivery contract, run against both queue backends: the in-process
// engine (the embedded store's) and the Redis outbox (the fleet's).
// Whichever a shop runs, a sink sees the same thing.

// queueBackend makes a Deliverer with cfg and returns it with its results.
type queueBackend func(t *testing.T, cfg Config) (Deliverer, *results)

var queueBackends = map[string]queueBackend{
	"memory": func(t *testing.T, cfg Config) (Deliverer, *results) {
		e, r := newTestEngine(t, cfg, nil)
		t.Cleanup(func() { closeEngine(t, e) })
		return e, r
	},
	"redis": func(t *testing.T, cfg Config) (Deliverer, *results) {
		n := newTestNode(t, redistest.Prefix(t), OutboxConfig{Config: cfg}, nil)
		return n.Engine, n.results
	},
	// The Redis outbox on a Redis Cluster: each sink's queue in shards.
	"cluster": func(t *testing.T, cfg Config) (Deliverer, *results) {
		n := newTestNodeOn(t, redistest.ClusterClient(t), redistest.ClusterPrefix(t), OutboxConfig{Config: cfg}, nil)
		return n.Engine, n.results
	},
}

func eachBackend(t *testing.T, test func(t *testing.T, b queueBackend)) {
	for _, name := range []string{"memory", "redis", "cluster"} {
		t.Run(name, func(t *testing.T) { test(t, queueBackends[name]) })
	}
}

// seen is one delivery as a sink got it.
type seen struct {
	version uint64
	changed model.Change
	orders  []string // NewOrders, by number
}

// recordingSink records what it gets; calls wait for gate while it is
// set, and fail is asked for each call's error.
type recordingSink struct {
	mu      sync.Mutex
	got     map[string][]seen
	gate    chan struct{}
	fail    func(u *Update) error
	first   chan struct{} // closed at the first call
	once    sync.Once
	entered chan uint64 // each call's version as it starts
}

func newRecordingSink() *recordingSink {
	return &recordingSink{got: map[string][]seen{}, first: make(chan struct{}), entered: make(chan uint64, 1000)}
}

func (r *recordingSink) Name() string { return "rec" }

func (r *recordingSink) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	r.once.Do(func() { close(r.first) })
	r.entered <- u.Session.Version
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return Feedback{}, ctx.Err()
		}
	}
	if r.fail != nil {
		if err := r.fail(u); err != nil {
			return Feedback{}, err
		}
	}
	var numbers []string
	for _, o := range u.NewOrders() {
		numbers = append(numbers, o.OrderNumber)
	}
	r.mu.Lock()
	r.got[u.Session.ID] = append(r.got[u.Session.ID], seen{u.Session.Version, u.Changed, numbers})
	r.mu.Unlock()
	return Feedback{}, nil
}

func (r *recordingSink) deliveries(id string) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[id])
}

// orderedUpd is version v of session id with orders recorded at the
// versions given (number "o<version>"), its cart naming v so that every
// version differs.
func orderedUpd(id string, v uint64, ch model.Change, orderVersions ...uint64) *Update {
	u := newUpd(id, v, ch, fmt.Sprintf("p%d", v))
	for _, ov := range orderVersions {
		u.Session.Orders = append(u.Session.Orders, model.Order{OrderNumber: fmt.Sprintf("o%d", ov), Version: ov})
	}
	return u
}

// ordersOf lists every order number delivered, in delivery order.
func ordersOf(ds []seen) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.orders...)
	}
	return out
}

func waitDeliveries(t *testing.T, r *recordingSink, id string, n int) []seen {
	t.Helper()
	eventually(t, fmt.Sprintf("%d deliveries of %s", n, id), func() bool { return len(r.deliveries(id)) >= n })
	return r.deliveries(id)
}

// Versions reach a sink in order per session, the newest last.
func TestContractVersionOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, _ := b(t, Config{})
		sink := newRecordingSink()
		d.AddSink(sink, SinkOptions{})
		for v := uint64(1); v <= 30; v++ {
			for _, id := range []string{"a", "b", "c"} {
				d.Enqueue(orderedUpd(id, v, model.ChangeCart))
			}
		}
		for _, id := range []string{"a", "b", "c"} {
			eventually(t, "the last version of "+id, func() bool {
				ds := sink.deliveries(id)
				return len(ds) > 0 && ds[len(ds)-1].version == 30
			})
			var vs []uint64
			for _, s := range sink.deliveries(id) {
				vs = append(vs, s.version)
			}
			if !strictlyIncreasing(vs) {
				t.Errorf("%s: versions %v out of order", id, vs)
			}
		}
	})
}

// An update that replaces a waiting one carries what both changed, and
// every order placed while it waited: two orders placed while the sink
// was busy both go out, each once, and a later one alone.
func TestContractCoalescingKeepsOrders(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, _ := b(t, Config{})
		sink := newRecordingSink()
		sink.gate = make(chan struct{})
		d.AddSink(sink, SinkOptions{})
		d.Enqueue(orderedUpd("s", 1, model.ChangeCart))
		<-sink.first // v1 is in flight; what follows waits
		d.Enqueue(orderedUpd("s", 2, model.ChangeOrder, 2))
		d.Enqueue(orderedUpd("s", 3, model.ChangeOrder, 2, 3))
		d.Enqueue(orderedUpd("s", 4, model.ChangeCart, 2, 3))
		time.Sleep(50 * time.Millisecond) // the outbox's enqueue is a round trip
		close(sink.gate)
		ds := waitDeliveries(t, sink, "s", 2)
		last := ds[len(ds)-1]
		if last.version != 4 || last.changed&model.ChangeOrder == 0 || last.changed&model.ChangeCart == 0 {
			t.Errorf("the coalesced delivery: %+v; want version 4 with cart and order changed", last)
		}
		if got := ordersOf(ds); !slices.Equal(got, []string{"o2", "o3"}) {
			t.Errorf("orders delivered %v; want o2 and o3, each once", got)
		}
		d.Enqueue(orderedUpd("s", 5, model.ChangeOrder, 2, 3, 5))
		ds = waitDeliveries(t, sink, "s", len(ds)+1)
		if got := ordersOf(ds); !slices.Equal(got, []string{"o2", "o3", "o5"}) {
			t.Errorf("after a later order, orders delivered %v; want o2, o3, o5", got)
		}
	})
}

// An update given up does not take its order with it: the next update
// of the session carries it.
func TestContractGivenUpOrderRidesWithTheNext(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, res := b(t, Config{MaxAttempts: 1})
		sink := newRecordingSink()
		sink.gate = make(chan struct{})
		sink.fail = func(u *Update) error {
			if u.Session.Version == 1 {
				return &DeliveryError{Status: 503, Err: errors.New("down")}
			}
			return nil
		}
		d.AddSink(sink, SinkOptions{})
		d.Enqueue(orderedUpd("g", 1, model.ChangeOrder, 1))
		<-sink.first
		d.Enqueue(orderedUpd("g", 2, model.ChangeCart, 1))
		time.Sleep(50 * time.Millisecond)
		close(sink.gate)
		await(t, res, "rec", OutcomeFailed, 1)
		ds := waitDeliveries(t, sink, "g", 1)
		if got := ordersOf(ds); !slices.Equal(got, []string{"o1"}) || ds[0].version != 2 {
			t.Errorf("after v1 was given up: deliveries %+v; want v2 carrying o1", ds)
		}
	})
}

// Cancel drops what waits; Status says what was delivered.
func TestContractCancelAndStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, _ := b(t, Config{})
		sink := newRecordingSink()
		d.AddSink(sink, SinkOptions{})
		d.Enqueue(orderedUpd("k", 1, model.ChangeCart))
		waitDeliveries(t, sink, "k", 1)
		eventually(t, "status delivered", func() bool {
			sts, err := d.Status(context.Background(), "k")
			return err == nil && len(sts) == 1 && sts[0].DeliveredVersion == 1
		})
		sink.gate = make(chan struct{})
		<-sink.entered // v1's
		d.Enqueue(orderedUpd("k", 2, model.ChangeCart))
		if v := <-sink.entered; v != 2 {
			t.Fatalf("in flight: v%d, want v2", v)
		}
		d.Enqueue(orderedUpd("k", 3, model.ChangeCart))
		time.Sleep(50 * time.Millisecond)
		d.Cancel("k") // v3 waits behind v2 in flight: dropped
		close(sink.gate)
		time.Sleep(100 * time.Millisecond)
		for _, s := range sink.deliveries("k") {
			if s.version == 3 {
				t.Errorf("version 3 was delivered after Cancel")
			}
		}
		if sts, err := d.Status(context.Background(), "k"); err != nil || len(sts) != 1 || sts[0].PendingVersion != 0 {
			t.Errorf("status after Cancel: %+v %v; want nothing pending", sts, err)
		}
	})
}

// A newer update that replaces one waiting for its retry takes its order
// along.
func TestContractRetryingOrderRidesWithTheNewer(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, res := b(t, Config{MaxAttempts: 5, BaseBackoff: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		sink := newRecordingSink()
		var calls sync.Map
		sink.fail = func(u *Update) error {
			if _, again := calls.LoadOrStore(u.Session.Version, true); !again && u.Session.Version == 1 {
				return &DeliveryError{Status: 503, Retryable: true, Err: errors.New("down for a moment")}
			}
			return nil
		}
		d.AddSink(sink, SinkOptions{})
		d.Enqueue(orderedUpd("r", 1, model.ChangeOrder, 1))
		await(t, res, "rec", OutcomeRetried, 1)
		d.Enqueue(orderedUpd("r", 2, model.ChangeCart, 1))
		ds := waitDeliveries(t, sink, "r", 1)
		if got := ordersOf(ds); !slices.Equal(got, []string{"o1"}) || ds[len(ds)-1].version != 2 {
			t.Errorf("deliveries %+v; want v2 carrying o1", ds)
		}
	})
}

// A session created again under its id (its store lost it) starts over at
// version 1: its updates are delivered, not dropped as older than what
// the sink had of the old session, and its orders count from nothing;
// also when an update of the old session is still in flight.
func TestContractRecreatedSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		d, _ := b(t, Config{})
		sink := newRecordingSink()
		d.AddSink(sink, SinkOptions{})
		first := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		upd := func(created time.Time, v uint64, ch model.Change, orders ...uint64) *Update {
			u := orderedUpd("s", v, ch, orders...)
			u.Session.CreatedAt = created
			return u
		}
		for v := uint64(1); v <= 3; v++ {
			d.Enqueue(upd(first, v, model.ChangeOrder, 1, 2, 3))
		}
		eventually(t, "the old session's v3", func() bool {
			ds := sink.deliveries("s")
			return len(ds) > 0 && ds[len(ds)-1].version == 3
		})
		n := len(sink.deliveries("s"))
		again := first.Add(time.Hour)
		d.Enqueue(upd(again, 1, model.ChangeOrder, 1))
		ds := waitDeliveries(t, sink, "s", n+1)
		if last := ds[len(ds)-1]; last.version != 1 || !slices.Equal(last.orders, []string{"o1"}) {
			t.Errorf("the new session's v1 arrived as %+v; want version 1 with its order o1", last)
		}

		// An update of the old session in flight when the new one comes.
		drainTo(sink.entered, 0) // forget what started so far
		sink.gate = make(chan struct{})
		d.Enqueue(upd(again, 2, model.ChangeCart))
		eventually(t, "v2 in flight", func() bool { return len(sink.entered) > 0 && drainTo(sink.entered, 2) })
		third := again.Add(time.Hour)
		d.Enqueue(upd(third, 1, model.ChangeOrder, 1))
		time.Sleep(50 * time.Millisecond)
		close(sink.gate)
		ds = waitDeliveries(t, sink, "s", n+3)
		if last := ds[len(ds)-1]; last.version != 1 || !slices.Equal(last.orders, []string{"o1"}) {
			t.Errorf("the third session's v1 arrived as %+v; want version 1 with its order o1", last)
		}
	})
}

// drainTo reads versions from c until it sees v (false when c runs dry).
func drainTo(c chan uint64, v uint64) bool {
	for {
		select {
		case got := <-c:
			if got == v {
				return true
			}
		default:
			return false
		}
	}
}

package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func clientUpd(id, client string, v uint64) *Update {
	u := newUpd(id, v, model.ChangeCart, fmt.Sprint("p", v)) // each version a new cart: none is skipped as unchanged
	u.Client = client
	return u
}

// exactBackends are the backends whose bounds hold to the session: on a
// cluster they hold shard by shard (TestClusterClientShare).
func exactBackends() map[string]queueBackend {
	return map[string]queueBackend{"memory": queueBackends["memory"], "redis": queueBackends["redis"]}
}

const (
	junkClient   = "203.0.113.9/32"
	victimClient = "2001:db8:7::/64"
)

// TestClientShare: one client's 30 sessions cannot fill a sink's queue of
// 20 and so drop another client's update; the flooding client holds
// max(1, 20/16) = 1 session, its others are dropped, and once its session
// is delivered it may queue another. Both backends alike.
func TestClientShare(t *testing.T) {
	for name, newD := range exactBackends() {
		t.Run(name, func(t *testing.T) {
			sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 100)}
			d, _ := newD(t, Config{QueueSize: 20, Concurrency: 1})
			d.AddSink(sink, SinkOptions{})
			for i := range 30 {
				d.Enqueue(clientUpd(fmt.Sprint("junk", i), junkClient, 1))
			}
			d.Enqueue(clientUpd("junk0", junkClient, 2)) // a held session's newer update still replaces
			d.Enqueue(clientUpd("victim", victimClient, 1))
			d.Enqueue(&Update{Session: model.Session{ID: "operator", Version: 1}, Changed: model.ChangeCart}) // no client: no share
			st := d.Stats()[0]
			if st.Dropped != 29 || st.Pending != 3 {
				t.Fatalf("after the flood: %d dropped, %d pending; want 29 dropped, 3 pending (junk0, victim, operator)", st.Dropped, st.Pending)
			}
			close(sink.gate)
			eventually(t, "the victim's update delivered", func() bool { return lastVersion(sink, "victim") == 1 })
			eventually(t, "junk0's newest delivered", func() bool { return lastVersion(sink, "junk0") == 2 })
			eventually(t, "nothing held", func() bool { return d.Stats()[0].Pending == 0 })
			// Its share is given back: the client may queue again.
			d.Enqueue(clientUpd("junk30", junkClient, 1))
			eventually(t, "the flooder's next session delivered", func() bool { return lastVersion(sink, "junk30") == 1 })
			if st := d.Stats()[0]; st.Dropped != 29 {
				t.Errorf("%d dropped in all, want 29", st.Dropped)
			}
		})
	}
}

// TestClientShareReleasedOnCancel: a cancelled session stops counting
// against its client, whether it was waiting or in flight.
func TestClientShareReleasedOnCancel(t *testing.T) {
	for name, newD := range exactBackends() {
		t.Run(name, func(t *testing.T) {
			sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 100)}
			d, _ := newD(t, Config{QueueSize: 16, Concurrency: 1}) // share 1
			d.AddSink(sink, SinkOptions{})
			d.Enqueue(clientUpd("a", junkClient, 1))
			<-sink.started // a is in flight
			d.Cancel("a")
			close(sink.gate)
			eventually(t, "a's attempt ended", func() bool { return d.Stats()[0].Pending == 0 })
			d.Enqueue(clientUpd("b", junkClient, 1))
			eventually(t, "b delivered", func() bool { return lastVersion(sink, "b") == 1 })
		})
	}
}

// TestClientShareReleasedOnCancelWhileWaiting: a waiting session that is
// cancelled gives its client's share back at once.
func TestClientShareReleasedOnCancelWhileWaiting(t *testing.T) {
	for name, newD := range exactBackends() {
		t.Run(name, func(t *testing.T) {
			sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 100)}
			d, _ := newD(t, Config{QueueSize: 16, Concurrency: 1}) // share 1
			d.AddSink(sink, SinkOptions{})
			d.Enqueue(clientUpd("busy", victimClient, 1))
			<-sink.started // the one slot is taken: what follows waits
			d.Enqueue(clientUpd("a", junkClient, 1))
			d.Cancel("a")
			d.Enqueue(clientUpd("b", junkClient, 1))
			if st := d.Stats()[0]; st.Dropped != 1 || st.Pending != 2 {
				t.Fatalf("%d dropped (a, cancelled), %d pending; want 1 and 2 (busy, b): a's share was not given back", st.Dropped, st.Pending)
			}
			close(sink.gate)
			eventually(t, "b delivered", func() bool { return lastVersion(sink, "b") == 1 })
		})
	}
}

// TestOutboxKeepsNoAddress: what Redis holds for a client's share is a
// salted hash, and nothing once the client holds nothing.
func TestOutboxKeepsNoAddress(t *testing.T) {
	prefix := redistest.Prefix(t)
	node := newTestNode(t, prefix, OutboxConfig{Config: Config{QueueSize: 20, Concurrency: 1}}, nil)
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 10)}
	node.AddSink(sink, SinkOptions{})
	node.Enqueue(clientUpd("x", "203.0.113.9/32", 1))
	<-sink.started
	c := node.client
	ctx := context.Background()
	keys, _ := c.Do(ctx, c.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
	counts, _ := c.Do(ctx, c.B().Hgetall().Key(prefix+"o:s:cl").Build()).AsStrMap()
	if len(counts) != 1 {
		t.Fatalf("client counts %v, want one client", counts)
	}
	for k, v := range counts {
		if len(k) != 16 || v != "1" || strings.Contains(k, ".") {
			t.Errorf("client count %q=%q, want a 16-hex-digit key holding 1", k, v)
		}
	}
	for _, k := range keys {
		dump, _ := c.Do(ctx, c.B().Dump().Key(k).Build()).ToString()
		if strings.Contains(k+dump, "203.0.113") {
			t.Errorf("key %s holds the client's address", k)
		}
	}
	close(sink.gate)
	eventually(t, "the count gone once delivered", func() bool {
		n, _ := c.Do(ctx, c.B().Hlen().Key(prefix+"o:s:cl").Build()).AsInt64()
		return n == 0 && lastVersion(sink, "x") == 1
	})
}

// On a cluster a client's share holds per shard, a shard's part of the
// whole: with 6,400 sessions of room over 64 shards (100 each, a client
// holding 6 of them), one client's flood holds at most 384 and another
// client's update still gets in.
func TestClusterClientShare(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{})}
	defer close(sink.gate)
	d, _ := queueBackends["cluster"](t, Config{QueueSize: 6400, Concurrency: 1})
	d.AddSink(sink, SinkOptions{})
	for i := range 1500 {
		d.Enqueue(clientUpd(fmt.Sprint("junk", i), junkClient, 1))
	}
	d.Enqueue(clientUpd("victim", victimClient, 1))
	st := d.Stats()[0]
	if st.Pending > 64*6+1 || st.Dropped < 1500-64*6 {
		t.Fatalf("after the flood: %d pending, %d dropped; want at most 385 held", st.Pending, st.Dropped)
	}
	status, err := d.(*Engine).Status(context.Background(), "victim")
	if err != nil || len(status) == 0 || status[0].PendingVersion != 1 {
		t.Errorf("the other client's update was not queued: %+v, %v", status, err)
	}
}

// The operator's retry is no way around consent: a session whose visitor
// did not grant what the sink requires is refused, and nothing is sent.
func TestRetryRespectsConsent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		sink := &fakeSink{name: "m"}
		d, _ := b(t, Config{Concurrency: 1})
		d.AddSink(sink, SinkOptions{Requires: []string{"marketing"}})
		u := newUpd("c-1", 1, model.ChangeCart, "p")
		u.Session.Consent = &model.Consent{Granted: []string{"necessary"}, Stated: true}
		d.Enqueue(u)
		eventually(t, "no_consent counted", func() bool { return d.Stats()[0].NoConsent == 1 })
		if _, err := d.Retry(context.Background(), "m", u); !errors.Is(err, ErrNoConsent) {
			t.Errorf("retry without consent: %v, want ErrNoConsent", err)
		}
		time.Sleep(50 * time.Millisecond)
		if n := len(sink.callList()); n != 0 {
			t.Errorf("the sink got %d calls", n)
		}
	})
}

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

// heldBytes reads a sink's held-bytes counter in Redis.
func heldBytes(t *testing.T, n *testNode, prefix, sink string) int64 {
	t.Helper()
	v, err := n.client.Do(context.Background(), n.client.B().Get().Key(prefix+"o:"+sink+":bytes").Build()).AsInt64()
	if err != nil && !isNil(err) {
		t.Fatal(err)
	}
	return v
}

// The outbox is bounded in bytes as well as in sessions: with the sink
// down, big sessions past QueueBytes are dropped (counted), though fewer
// than QueueSize are held; and the count goes back to nothing once what
// was held is delivered or cancelled, whatever path each took (delivered,
// superseded while waiting for a retry, cancelled while waiting).
func TestOutboxQueueBytesBound(t *testing.T) {
	prefix := redistest.Prefix(t)
	big := strings.Repeat("x", 4000)
	upd := func(id string, v uint64) *Update { return newUpd(id, v, model.ChangeCart, big) }
	one := int64(len(upd("s0", 1).Session.AppendBinary(nil)))
	sink := &fakeSink{name: "s", gate: make(chan struct{})}
	n := newTestNode(t, prefix, OutboxConfig{Config: Config{QueueSize: 100, Concurrency: 1}, QueueBytes: 5*one + one/2}, nil)
	n.AddSink(sink, SinkOptions{})
	for i := range 10 {
		n.Enqueue(upd(fmt.Sprint("s", i), 1))
	}
	st := n.Stats()[0]
	if st.Pending != 5 || st.Dropped != 5 {
		t.Fatalf("with room for 5 sessions' bytes: %d held, %d dropped", st.Pending, st.Dropped)
	}
	if b := heldBytes(t, n, prefix, "s"); b != 5*one {
		t.Errorf("held bytes %d, want %d", b, 5*one)
	}
	n.Enqueue(upd("s1", 2)) // a held session's newer state is kept over the bound
	n.Enqueue(upd("s2", 2))
	n.Cancel("s3")
	close(sink.gate)
	eventually(t, "everything delivered", func() bool { return n.Stats()[0].Pending == 0 })
	eventually(t, "the held bytes back to 0", func() bool { return heldBytes(t, n, prefix, "s") == 0 })
	time.Sleep(20 * time.Millisecond)
	if b := heldBytes(t, n, prefix, "s"); b != 0 {
		t.Errorf("held bytes %d after the queue emptied", b)
	}
}

// Retries, a newer update replacing one waiting for its retry, and an
// update given up leave nothing counted once the queue is empty.
func TestOutboxQueueBytesAfterRetries(t *testing.T) {
	prefix := redistest.Prefix(t)
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		if call <= 3 {
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		}
		if u.Session.ID == "refused" {
			return Feedback{}, &DeliveryError{Status: 400}
		}
		return Feedback{}, nil
	}}
	n := newTestNode(t, prefix, OutboxConfig{Config: Config{QueueSize: 100, Concurrency: 1, MaxAttempts: 10}}, nil)
	n.AddSink(sink, SinkOptions{})
	n.Enqueue(newUpd("a", 1, model.ChangeCart, "p"))
	n.Enqueue(newUpd("a", 2, model.ChangeCart, "q"))
	n.Enqueue(newUpd("a", 3, model.ChangeCart, "r", "s"))
	n.Enqueue(newUpd("refused", 1, model.ChangeCart, "p"))
	eventually(t, "everything done", func() bool { return n.Stats()[0].Pending == 0 })
	eventually(t, "the held bytes back to 0", func() bool { return heldBytes(t, n, prefix, "s") == 0 })
	if st := n.Stats()[0]; st.Retried == 0 || st.Failed != 1 {
		t.Errorf("the test did not take the paths it means to: %+v", st)
	}
}

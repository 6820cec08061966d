package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// The real Emporix sink keeps the context version in the outbox's Redis:
// the node delivering the next update knows it and writes at once, with
// no read first, although its own sink never saw the session.
func TestOutboxEmporixVersionShared(t *testing.T) {
	prefix := redistest.Prefix(t)
	f := newFakeEmporix(t)
	a, b := newTestNode(t, prefix, OutboxConfig{}, nil), newTestNode(t, prefix, OutboxConfig{}, nil)
	a.AddSink(newTestEmporix(t, f, nil), SinkOptions{})
	first := newUpd("sid-x", 1, model.ChangeCart, "x")
	a.Enqueue(first)
	awaitFleet(t, "delivered by a", func(st SinkStats) uint64 { return st.Delivered }, 1, a)
	a.Close(context.Background())
	b.AddSink(newTestEmporix(t, f, nil), SinkOptions{})
	b.Enqueue(newUpd("sid-x", 2, model.ChangeCart, "y"))
	awaitFleet(t, "delivered by b", func(st SinkStats) uint64 { return st.Delivered }, 1, b)
	var gets int
	for _, m := range f.methods() {
		if strings.HasPrefix(m, "GET /session-context/") {
			gets++
		}
	}
	if gets != 1 || f.version("acme/context/sid-x") != 2 {
		t.Errorf("requests %v: want one read (a's, of an unknown session) and the context at version 2", f.methods())
	}
}

package feed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestStreamSharesEventsAcrossNodes: two feeds on one stream stand for
// two nodes; what one publishes, the other's subscribers see, and a node
// started later finds the recent events.
func TestStreamSharesEventsAcrossNodes(t *testing.T) {
	client := redistest.Client(t)
	prefix := redistest.Prefix(t)
	key := prefix + "feed"
	a := NewStream(client, key, 50, func(op string) { t.Errorf("node a: %s failed", op) })
	defer a.Close()
	b := NewStream(client, key, 50, func(op string) { t.Errorf("node b: %s failed", op) })
	defer b.Close()
	time.Sleep(100 * time.Millisecond) // both follow the stream
	ch, cancel := b.Subscribe()
	defer cancel()

	want := Event{SessionID: "s1", Version: 3, Source: model.SourceHTML, Changes: model.ChangeCart,
		At: time.Now().UTC().Truncate(time.Millisecond), Path: "/cart", CartLines: 2, CartTotal: model.Decimal(12_500_000), Node: "a"}
	a.Publish(want)
	select {
	case got := <-ch:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("node b got %+v\nwant %+v", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("node b never saw node a's event")
	}

	for v := uint64(4); v < 200; v++ {
		a.Publish(Event{SessionID: "s1", Version: v})
	}
	waitFor(t, func() bool { r, _ := a.Recent(context.Background(), 1); return len(r) == 1 && r[0].Version == 199 })
	n, err := client.Do(context.Background(), client.B().Xlen().Key(key).Build()).AsInt64()
	if err != nil || n > 150 {
		t.Fatalf("the stream holds %d entries (%v); it is capped at about 50", n, err)
	}

	c := NewStream(client, key, 50, nil)
	defer c.Close()
	waitFor(t, func() bool { r, _ := c.Recent(context.Background(), 50); return len(r) == 50 && r[49].Version == 199 })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}

// An erased session leaves the Redis stream and every node's ring.
func TestStreamForgetsASessionOnEveryNode(t *testing.T) {
	client := redistest.Client(t)
	key := redistest.Prefix(t) + "feed"
	a := NewStream(client, key, 50, nil)
	defer a.Close()
	b := NewStream(client, key, 50, nil)
	defer b.Close()
	time.Sleep(100 * time.Millisecond) // both follow the stream
	a.Publish(Event{SessionID: "erased", Version: 1, Path: "/secret-path"})
	a.Publish(Event{SessionID: "kept", Version: 1})
	has := func(s *Stream, id string) bool {
		r, _ := s.Recent(context.Background(), 50)
		for _, e := range r {
			if e.SessionID == id {
				return true
			}
		}
		return false
	}
	waitFor(t, func() bool { return has(b, "erased") && has(b, "kept") })
	if err := a.Forget(context.Background(), "erased"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !has(a, "erased") && !has(b, "erased") })
	if !has(a, "kept") || !has(b, "kept") {
		t.Error("forgetting one session dropped another")
	}
	entries, err := client.Do(context.Background(), client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if v := en.FieldValues["e"]; strings.Contains(v, "secret-path") {
			t.Errorf("the stream still holds the erased session's event: %s", v)
		}
	}
	// A node that starts now backfills no event of it.
	c := NewStream(client, key, 50, nil)
	defer c.Close()
	waitFor(t, func() bool { return has(c, "kept") })
	if has(c, "erased") {
		t.Error("a new node backfilled the erased session")
	}
}

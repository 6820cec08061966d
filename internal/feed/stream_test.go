package feed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestStreamSharesEventsAcrossNodes: two feeds on one stream stand for
// two nodes; what one publishes, the other's subscribers see, and a node
// started later finds the recent events.
func TestStreamSharesEventsAcrossNodes(t *testing.T) {
	testSharesEvents(t, redistest.Client(t), redistest.Prefix(t))
}

// On a Redis Cluster, where the feed is split into shards.
func TestClusterStreamSharesEventsAcrossNodes(t *testing.T) {
	testSharesEvents(t, redistest.ClusterClient(t), redistest.ClusterPrefix(t))
}

func testSharesEvents(t *testing.T, client rueidis.Client, prefix string) {
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

	// A node with room for every event: the shards arrive each in its
	// own order, so in a ring of 50 the last event written may already
	// have been pushed out by other shards' earlier ones.
	all := NewStream(client, key, 1000, nil)
	defer all.Close()
	time.Sleep(100 * time.Millisecond) // it follows the stream
	for v := uint64(4); v < 200; v++ {
		a.Publish(Event{SessionID: fmt.Sprint("s", v), Version: v})
	}
	waitFor(t, func() bool { return hasVersion(all, 199) })
	// On a cluster every shard carries its sessions' events.
	for _, key := range a.keys {
		if n, err := client.Do(context.Background(), client.B().Xlen().Key(key).Build()).AsInt64(); err != nil || n == 0 {
			t.Errorf("stream %s holds %d entries (%v): the feed is not spread", key, n, err)
		}
	}
	// XADD MAXLEN ~ trims whole nodes of 100 entries: each shard keeps
	// its part of 50, and less than a node more.
	if n := len(streamEntries(t, client, a)); n > len(a.keys)*(a.size+100) {
		t.Fatalf("the stream holds %d entries; it is capped at about 50", n)
	}

	// A node started later finds the newest events of every shard.
	c := NewStream(client, key, 50, nil)
	defer c.Close()
	waitFor(t, func() bool {
		r, _ := c.Recent(context.Background(), 50)
		return len(r) >= 40 && hasVersion(c, 199)
	})
}

func hasVersion(s *Stream, v uint64) bool {
	r, _ := s.Recent(context.Background(), 1000)
	for _, e := range r {
		if e.Version == v {
			return true
		}
	}
	return false
}

// streamEntries reads every shard of s's stream.
func streamEntries(t *testing.T, client rueidis.Client, s *Stream) []rueidis.XRangeEntry {
	t.Helper()
	var all []rueidis.XRangeEntry
	for _, key := range s.keys {
		entries, err := client.Do(context.Background(), client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, entries...)
	}
	return all
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
	testForgets(t, redistest.Client(t), redistest.Prefix(t))
}

func TestClusterStreamForgetsASessionOnEveryNode(t *testing.T) {
	testForgets(t, redistest.ClusterClient(t), redistest.ClusterPrefix(t))
}

func testForgets(t *testing.T, client rueidis.Client, prefix string) {
	key := prefix + "feed"
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
	for _, en := range streamEntries(t, client, a) {
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

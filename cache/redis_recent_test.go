package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// reads counts the store's reads (GETs of a session).
func reads(r *Redis) int64 { return r.hits.Load() + r.misses.Load() }

// An update of a session this node wrote last is one round trip: the
// compare-and-set, no read. When another node wrote since, the lost
// compare-and-set answers with what Redis holds, and the retry starts
// from that, still without a read; nothing written by the other node is
// lost.
func TestRedisUpdateSkipsTheRead(t *testing.T) {
	a := newRedisStore(t, RedisConfig{})
	cfg := a.Config()
	b := newRedisStore(t, cfg) // another node on the same prefix
	ctx := context.Background()
	if _, err := a.Update(ctx, "s", addItem("p1")); err != nil {
		t.Fatal(err)
	}
	before := reads(a)
	if _, err := a.Update(ctx, "s", addItem("p2")); err != nil {
		t.Fatal(err)
	}
	if n := reads(a) - before; n != 0 {
		t.Errorf("an update of a session this node wrote last read it %d times", n)
	}
	if _, err := b.Update(ctx, "s", addItem("p3")); err != nil {
		t.Fatal(err)
	}
	before, conflicts := reads(a), a.conflicts.Load()
	s, err := a.Update(ctx, "s", addItem("p4"))
	if err != nil {
		t.Fatal(err)
	}
	if n := reads(a) - before; n != 0 || a.conflicts.Load() != conflicts+1 {
		t.Errorf("after another node's write: %d reads, %d conflicts", n, a.conflicts.Load()-conflicts)
	}
	var ids []string
	for _, it := range s.Cart.Items {
		ids = append(ids, it.ProductID)
	}
	if len(ids) != 4 || ids[2] != "p3" || ids[3] != "p4" || s.Version != 4 {
		t.Errorf("v%d cart %v, want v4 with p1..p4", s.Version, ids)
	}
}

// A write sent without a read to a Redis that then stops answering has an
// unknown outcome (it may have run), reported after the timeout and the
// read back; from then on updates read first, so they fail within one
// timeout, as every other call does, until Redis has answered for a while.
func TestRedisHungAfterQuietGuessesOnce(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p := redistest.NewProxy(t, redisAddr(t))
	r := redisThrough(t, p, timeout)
	ctx := context.Background()
	if _, err := r.Update(ctx, "g", addItem("p")); err != nil {
		t.Fatal(err)
	}
	p.Hang()
	start := time.Now()
	_, err := r.Update(ctx, "g", addItem("q"))
	if d := time.Since(start); !errors.Is(err, ErrOutcomeUnknown) || d > timeout+settleTimeout(timeout)+200*time.Millisecond {
		t.Errorf("the guessed write to a hung Redis: %v after %s", err, d)
	}
	start = time.Now()
	_, err = r.Update(ctx, "g", addItem("r"))
	if d := time.Since(start); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) || d > timeout+100*time.Millisecond {
		t.Errorf("the next update: %v after %s, want a clean ErrUnavailable within %s", err, d, timeout)
	}
	p.Restore(t)
}

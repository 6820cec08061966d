package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// An update whose attempts were used up by holders that died is given
// up and counted, in memory as the Lua script does.
func TestMemQueueCountsGiveUps(t *testing.T) {
	cfg, _ := OutboxConfig{Config: Config{QueueSize: 10, MaxAttempts: 1}}.withDefaults()
	cfg.Lease = time.Millisecond
	q := newMemQueue(cfg)
	u := &Update{Session: model.Session{ID: "s", Version: 1}, Changed: model.ChangeCart}
	if r, _ := q.enqueue(context.Background(), u, "c"); r != admitQueued {
		t.Fatal(r)
	}
	b, _ := q.claim(context.Background(), 1, "t")
	if len(b.claims) != 1 {
		t.Fatal(b)
	}
	time.Sleep(5 * time.Millisecond)
	b, _ = q.claim(context.Background(), 1, "t2")
	t.Logf("tookBack=%d gaveUp=%d claims=%d", b.tookBack, b.gaveUp, len(b.claims))
	if b.gaveUp != 1 {
		t.Errorf("gaveUp = %d, want 1 (the Lua script counts it)", b.gaveUp)
	}
}

// A session cancelled during its attempt whose lease then runs out (its
// node died), taken back while a backlog keeps the claim from reaching
// it, then written again: its client is charged once, and nothing once
// the queue is empty. Taking the lease back used to put the session in
// due with only its client left, and the next enqueue charged the client
// again, for good.
func cancelledLeaseExpires(t *testing.T, q queue, share func() int64) {
	ctx := context.Background()
	u := func(id string, v uint64) *Update { return newUpd(id, v, model.ChangeCart, "p") }
	if r, err := q.enqueue(ctx, u("a", 1), "C"); r != admitQueued {
		t.Log(err)
		t.Fatal(r)
	}
	b, err := q.claim(ctx, 1, "n1")
	if err != nil || len(b.claims) != 1 {
		t.Fatal(b, err)
	}
	if _, err := q.cancel(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	q.enqueue(ctx, u("b", 1), "X")    // a backlog ahead of a
	time.Sleep(30 * time.Millisecond) // the lease runs out (node died)
	b, err = q.claim(ctx, 1, "n2")
	if err != nil || b.tookBack != 1 || len(b.claims) != 1 || b.claims[0].id != "b" {
		t.Fatalf("%+v %v", b, err)
	}
	if _, err := q.complete(ctx, b.claims[0], completion{result: "ok", streak: "reset"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := q.enqueue(ctx, u("a", 2), "C"); r != admitQueued {
		t.Fatal(r)
	}
	t.Logf("share of C while a is held: %d", share())
	for i := 0; i < 5; i++ {
		b, _ = q.claim(ctx, 10, "n3")
		for _, c := range b.claims {
			if _, err := q.complete(ctx, c, completion{result: "ok", streak: "reset"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := q.pending(ctx); n != 0 {
		t.Fatalf("pending %d", n)
	}
	if s := share(); s != 0 {
		t.Errorf("client C still charged %d sessions with nothing held", s)
	}
}

func TestQueueCancelledLeaseExpiresMemory(t *testing.T) {
	cfg, _ := OutboxConfig{Config: Config{QueueSize: 1000}}.withDefaults()
	cfg.Lease = 10 * time.Millisecond
	q := newMemQueue(cfg)
	cancelledLeaseExpires(t, q, func() int64 {
		q.mu.Lock()
		defer q.mu.Unlock()
		return int64(q.clients["C"])
	})
}

func TestQueueCancelledLeaseExpiresRedis(t *testing.T) {
	prefix := redistest.Prefix(t)
	c := newTestClient(t)
	cfg, _ := OutboxConfig{Config: Config{QueueSize: 1000}, Prefix: prefix}.withDefaults()
	cfg.Lease = 10 * time.Millisecond
	b := &redisBackend{c: c, cfg: cfg, errs: newErrorLog(nil, time.Minute, nil)}
	q := b.newQueue("s").(*redisQueue)
	cancelledLeaseExpires(t, q, func() int64 {
		v, err := c.Do(context.Background(), c.B().Hget().Key(q.keys.clients).Field("C").Build()).AsInt64()
		if err != nil && !isNil(err) {
			t.Fatal(err)
		}
		return v
	})
}

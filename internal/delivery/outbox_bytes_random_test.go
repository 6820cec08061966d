package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Random enqueues, claims, completions of every kind, cancels, retries
// and leases running out: the held-bytes counter always equals the
// payload bytes the sink's session hashes hold.
func TestOutboxHeldBytesRandom(t *testing.T) {
	prefix := redistest.Prefix(t)
	c := newTestClient(t)
	cfg, _ := OutboxConfig{Config: Config{QueueSize: 1000, MaxAttempts: 3}, Prefix: prefix}.withDefaults()
	cfg.Lease = 3 * time.Millisecond
	b := &redisBackend{c: c, cfg: cfg, errs: newErrorLog(nil, time.Minute, nil)}
	q := b.newQueue("s").(*redisQueue)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	ver := map[string]uint64{}
	var live []claim
	results := []string{"ok", "skip", "fail", "retry", "release"}
	check := func(step int) {
		keys, _ := c.Do(ctx, c.B().Keys().Pattern(q.keys.state+"*").Build()).AsStrSlice()
		var sum int64
		for _, k := range keys {
			a, _ := c.Do(ctx, c.B().Hstrlen().Key(k).Field("pp").Build()).AsInt64()
			f, _ := c.Do(ctx, c.B().Hstrlen().Key(k).Field("fp").Build()).AsInt64()
			sum += a + f
		}
		got, _ := c.Do(ctx, c.B().Get().Key(q.keys.bytes).Build()).AsInt64()
		if got != sum {
			t.Fatalf("step %d: S:bytes %d, payloads held %d", step, got, sum)
		}
	}
	for step := 0; step < 3000; step++ {
		id := fmt.Sprint("s", rng.IntN(8))
		switch op := rng.IntN(10); {
		case op < 4:
			ver[id] += uint64(1 + rng.IntN(2))
			q.enqueue(ctx, newUpd(id, ver[id], model.ChangeCart, strings.Repeat("x", rng.IntN(50))), "")
		case op < 6:
			bt, err := q.claim(ctx, 1+rng.IntN(3), fmt.Sprint("t", step))
			if err != nil {
				t.Fatal(err)
			}
			live = append(live, bt.claims...)
		case op < 8 && len(live) > 0:
			i := rng.IntN(len(live))
			cl := live[i]
			live = append(live[:i], live[i+1:]...)
			if _, err := q.complete(ctx, cl, completion{result: results[rng.IntN(len(results))], streak: "keep"}); err != nil {
				t.Fatal(err)
			}
		case op == 8:
			q.cancel(ctx, id)
		default:
			ver[id]++
			if _, err := q.retry(ctx, newUpd(id, ver[id], model.ChangeCart, strings.Repeat("y", rng.IntN(50)))); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(4) == 0 {
				time.Sleep(4 * time.Millisecond)
			}
		}
		check(step)
	}
}

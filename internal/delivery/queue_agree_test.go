package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// The memory queue and the Redis scripts, given the same random
// operations side by side (enqueue, claim, complete of every kind,
// cancel, retry, leases running out), answer alike and hold the same
// sessions and client shares: one set of rules, two implementations.
func TestQueuesAgree(t *testing.T) {
	for seed := uint64(0); seed < 25; seed++ {
		prefix := redistest.Prefix(t) + fmt.Sprint(seed) + ":"
		c := newTestClient(t)
		cfg, _ := OutboxConfig{Config: Config{QueueSize: 6, MaxAttempts: 3}, Prefix: prefix}.withDefaults()
		// Leases run out only when the test says so (expireLeases): by
		// the clock, the two queues, asked one after the other, would
		// see one run out at different steps.
		cfg.Lease = time.Hour
		b := &redisBackend{c: c, cfg: cfg, errs: newErrorLog(nil, time.Minute, nil)}
		rq := b.newQueue("s").(*redisQueue)
		mq := newMemQueue(cfg)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, 2))
		ver := map[string]uint64{}
		// created is each session's incarnation; now and then one is
		// created again (its store lost it) and starts over at version 1.
		created := map[string]time.Time{}
		base := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		type pair struct{ m, r claim }
		var live []pair
		results := []string{"ok", "skip", "fail", "retry", "release"}
		var log []string
		fail := func(f string, a ...any) {
			t.Fatalf("seed %d: %s\nops:\n%s", seed, fmt.Sprintf(f, a...), strings.Join(log, "\n"))
		}
		for step := 0; step < 250; step++ {
			id := fmt.Sprint("s", rng.IntN(8))
			cl := []string{"", "A", "B"}[rng.IntN(3)]
			if rng.IntN(25) == 0 {
				expireLeases(t, mq, rq)
				log = append(log, "leases run out")
			}
			if rng.IntN(30) == 0 {
				created[id] = base.Add(time.Duration(step) * time.Millisecond)
				ver[id] = 0
				log = append(log, "recreate "+id)
			}
			switch op := rng.IntN(10); {
			case op < 4:
				ver[id] += uint64(1 + rng.IntN(2))
				ch := model.Change(1 << rng.IntN(3))
				u := newUpd(id, ver[id], ch, "p")
				u.Session.CreatedAt = created[id]
				a, _ := mq.enqueue(ctx, u, cl)
				r, err := rq.enqueue(ctx, u, cl)
				log = append(log, fmt.Sprintf("enqueue %s v%d %s -> %s/%s", id, ver[id], cl, a, r))
				if err != nil || a != r {
					fail("enqueue %s: mem %s redis %s %v", id, a, r, err)
				}
			case op < 6:
				mb, _ := mq.claim(ctx, 100, fmt.Sprint("m", step))
				rb, err := rq.claim(ctx, 100, fmt.Sprint("r", step))
				if err != nil {
					t.Fatal(err)
				}
				log = append(log, fmt.Sprintf("claim -> mem %d (gave %d) redis %d (gave %d)", len(mb.claims), mb.gaveUp, len(rb.claims), rb.gaveUp))
				if len(mb.claims) != len(rb.claims) {
					fail("claims differ: %d vs %d", len(mb.claims), len(rb.claims))
				}
				slices.SortFunc(mb.claims, func(a, b claim) int { return strings.Compare(a.id, b.id) })
				slices.SortFunc(rb.claims, func(a, b claim) int { return strings.Compare(a.id, b.id) })
				for i := range mb.claims {
					m, r := mb.claims[i], rb.claims[i]
					if m.id != r.id || m.version != r.version || m.changes != r.changes || m.attempt != r.attempt ||
						m.superseded != r.superseded || m.since != r.since || m.streak != r.streak {
						fail("claim differs:\n mem %+v\n red %+v", m, r)
					}
					live = append(live, pair{m, r})
				}
			case op < 8 && len(live) > 0:
				i := rng.IntN(len(live))
				p := live[i]
				live = append(live[:i], live[i+1:]...)
				res := results[rng.IntN(len(results))]
				streak := []string{"keep", "incr", "reset"}[rng.IntN(3)]
				comp := completion{result: res, streak: streak, fp: "f"}
				a, _ := mq.complete(ctx, p.m, comp)
				r, err := rq.complete(ctx, p.r, comp)
				log = append(log, fmt.Sprintf("complete %s %s -> %d/%d", p.m.id, res, a, r))
				if err != nil || a != r {
					fail("complete %s %s: %d vs %d %v", p.m.id, res, a, r, err)
				}
			case op == 8:
				a, _ := mq.cancel(ctx, id)
				r, err := rq.cancel(ctx, id)
				log = append(log, fmt.Sprintf("cancel %s -> %d/%d", id, a, r))
				if err != nil || a != r {
					fail("cancel %s: %d vs %d", id, a, r)
				}
			default:
				ver[id]++
				u := newUpd(id, ver[id], model.ChangeCart, "q")
				u.Session.CreatedAt = created[id]
				a, _ := mq.retry(ctx, u)
				r, err := rq.retry(ctx, u)
				log = append(log, fmt.Sprintf("retry %s v%d -> %s/%s", id, ver[id], a, r))
				if err != nil || a != r {
					fail("retry %s: %s vs %s", id, a, r)
				}
			}
			for i := range 8 {
				id := fmt.Sprint("s", i)
				ms, _ := mq.status(ctx, id)
				rs, _ := rq.status(ctx, id)
				ms.DeliveredAt, rs.DeliveredAt, ms.NextAttemptAt, rs.NextAttemptAt, ms.GivenUpAt, rs.GivenUpAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
				ms.LastError, rs.LastError = nil, nil
				ms.Known, rs.Known = false, false
				if fmt.Sprintf("%+v", ms) != fmt.Sprintf("%+v", rs) {
					fail("status %s:\n mem %+v\n red %+v", id, ms, rs)
				}
			}
			mp, _ := mq.pending(ctx)
			rp, _ := rq.pending(ctx)
			if mp != rp {
				fail("pending %d vs %d", mp, rp)
			}
			for _, k := range []string{"A", "B"} {
				v, _ := c.Do(ctx, c.B().Hget().Key(rq.keys.clients).Field(k).Build()).AsInt64()
				if int64(mq.clients[k]) != v {
					fail("client %s: %d vs %d", k, mq.clients[k], v)
				}
			}
		}
	}
}

// expireLeases makes every lease of both queues run out now, as if their
// holders had died an hour ago.
func expireLeases(t *testing.T, mq *memQueue, rq *redisQueue) {
	t.Helper()
	mq.mu.Lock()
	for id := range mq.leases {
		mq.leases[id] = time.Now().Add(-time.Hour)
	}
	mq.mu.Unlock()
	ctx := context.Background()
	c := rq.b.c
	ids, err := c.Do(ctx, c.B().Zrange().Key(rq.keys.lease).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := c.Do(ctx, c.B().Zadd().Key(rq.keys.lease).ScoreMember().ScoreMember(0, id).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
}

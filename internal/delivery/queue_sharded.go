package delivery

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// clusterShards is how many queues a sink's outbox is split into on a
// Redis Cluster, so that no one slot carries a whole fleet's deliveries:
// one per session hash tag (see keytag), a session's queue under its own
// tag. Its session, its write log and its queued deliveries are then in
// one slot, on one primary, whose replica copies them in the order they
// were written: a failover that loses a queued delivery loses the write
// log's record of it only with it, never the one without the other. A
// claim takes from every shard.
const clusterShards = keytag.Shards

// shardedQueue is one sink's queue split over shards: the scripts are
// those of redisQueue, each run in one shard's slot. The bounds (queue
// size, bytes, a client's share) hold per shard, each a shard's part of
// the whole, rounded up, with room for at least two sessions (a client's
// share of a shard is then always less than the shard, so one client can
// never fill a shard that another client's session falls in) and for the
// largest session (model.MaxEncodedSize). A session's
// shard follows from its id, so clients' sessions spread over the shards
// as sessions do.
type shardedQueue struct {
	b      *redisBackend
	shards []*redisQueue
	turn   atomic.Uint32 // the shard the next claim starts at

	mu sync.Mutex
	// due[i]: shard i had sessions due at its last claim (or failed it).
	due []bool
}

func newShardedQueue(b *redisBackend, base string, n int) *shardedQueue {
	q := &shardedQueue{b: b, due: make([]bool, n)}
	for i := range n {
		k := newRedisQueue(b, base+":"+keytag.Tag(i))
		k.size = max(2, (b.cfg.QueueSize+n-1)/n)
		// Room for the largest session, or one would never be queued.
		k.bytes = max(model.MaxEncodedSize, (b.cfg.QueueBytes+int64(n)-1)/int64(n))
		q.shards = append(q.shards, k)
	}
	return q
}

func (q *shardedQueue) of(id string) *redisQueue {
	return q.shards[keytag.Of(id)%len(q.shards)]
}

func (q *shardedQueue) enqueue(ctx context.Context, u *Update, client string) (string, error) {
	return q.of(u.Session.ID).enqueue(ctx, u, client)
}

func (q *shardedQueue) complete(ctx context.Context, c claim, r completion) (int64, error) {
	return q.of(c.id).complete(ctx, c, r)
}

func (q *shardedQueue) cancel(ctx context.Context, id string) (int, error) {
	return q.of(id).cancel(ctx, id)
}

func (q *shardedQueue) retry(ctx context.Context, u *Update) (string, error) {
	return q.of(u.Session.ID).retry(ctx, u)
}

func (q *shardedQueue) status(ctx context.Context, id string) (DeliveryStatus, error) {
	return q.of(id).status(ctx, id)
}

func (q *shardedQueue) pending(ctx context.Context) (int, error) {
	c := q.b.c
	cmds := make(rueidis.Commands, 0, 2*len(q.shards))
	for _, s := range q.shards {
		cmds = append(cmds, c.B().Zcard().Key(s.keys.due).Build(), c.B().Zcard().Key(s.keys.lease).Build())
	}
	total := 0
	for _, r := range c.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			return 0, err
		}
		total += int(n)
	}
	return total, nil
}

// claim runs the claim script on every shard in one round trip per node:
// every shard takes back its expired leases and reports its next due
// time, and n is split between the shards that had sessions due at their
// last claim (all of them when none had), starting at one that moves on
// with each claim, so that no shard waits behind the others and a claim
// after an idle spell finds the due ones at its second round.
func (q *shardedQueue) claim(ctx context.Context, n int, token string) (claimBatch, error) {
	k := len(q.shards)
	parts := q.split(n)
	execs := make([]rueidis.LuaExec, k)
	for i, s := range q.shards {
		execs[i] = rueidis.LuaExec{Keys: s.claimKeys(), Args: s.claimArgs(parts[i], token+"."+strconv.Itoa(i))}
	}
	ctx, cancel := context.WithTimeout(ctx, q.b.cfg.CommandTimeout)
	defer cancel()
	out := claimBatch{next: -1}
	var errs []error
	due := make([]bool, k)
	for i, res := range claimShards.Exec(ctx, q.b.c, execs) {
		vals, err := res.ToArray()
		if err == nil {
			var got claimBatch
			if got, err = q.shards[0].parseBatch(vals); err == nil {
				out = merge(out, got)
				due[i] = got.next == 0
				continue
			}
		}
		due[i] = true
		errs = append(errs, err)
	}
	q.mu.Lock()
	q.due = due
	q.mu.Unlock()
	if len(errs) == 0 {
		return out, nil
	}
	// One primary down fails its shards alike: say it once.
	err := fmt.Errorf("%d of %d shards: %w", len(errs), k, errs[0])
	if len(errs) < k {
		// What the other shards took must be attempted; the failed ones
		// are claimed again at the next poll.
		q.b.errs.record("claim", err)
		return out, nil
	}
	return out, err
}

// split gives each shard its part of n: the shards due at their last
// claim (or every shard, when none was) take turns, from a start that
// moves on with each claim.
func (q *shardedQueue) split(n int) []int {
	k := len(q.shards)
	start := int(q.turn.Add(1)) % k
	q.mu.Lock()
	var order []int
	for j := range k {
		if i := (start + j) % k; q.due[i] {
			order = append(order, i)
		}
	}
	q.mu.Unlock()
	if len(order) == 0 {
		for j := range k {
			order = append(order, (start+j)%k)
		}
	}
	parts := make([]int, k)
	for j, i := range order {
		parts[i] = n / len(order)
		if j < n%len(order) {
			parts[i]++
		}
	}
	return parts
}

// merge adds b's claims and counts to a; the sooner next wins.
func merge(a, b claimBatch) claimBatch {
	a.tookBack += b.tookBack
	a.gaveUp += b.gaveUp
	a.claims = append(a.claims, b.claims...)
	if b.next >= 0 && (a.next < 0 || b.next < a.next) {
		a.next = b.next
	}
	return a
}

var _ queue = (*shardedQueue)(nil)

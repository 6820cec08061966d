package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// outboxKeys are one sink's key names.
type outboxKeys struct {
	base, due, lease, state string // state is the per-session hash's prefix
	clients                 string // held sessions per client key
	bytes                   string // the payload bytes held
}

// redisQueue is a sink's queue in Redis: the scripts of outbox_lua.go.
// On a cluster it is one shard of a shardedQueue.
type redisQueue struct {
	b    *redisBackend
	keys outboxKeys
	// size and bytes bound the sessions and payload bytes held.
	size  int
	bytes int64
}

// newRedisQueue is the queue whose keys start with base, bounded as the
// outbox's configuration says.
func newRedisQueue(b *redisBackend, base string) *redisQueue {
	return &redisQueue{b: b, size: b.cfg.QueueSize, bytes: b.cfg.QueueBytes,
		keys: outboxKeys{base: base, due: base + ":due", lease: base + ":lease",
			state: base + ":s:", clients: base + ":cl", bytes: base + ":bytes"}}
}

func (q *redisQueue) sessionKeys(id string) []string {
	return []string{q.keys.state + id, q.keys.due, q.keys.lease, q.keys.clients, q.keys.bytes}
}

func (q *redisQueue) enqueue(ctx context.Context, u *Update, client string) (string, error) {
	id := u.Session.ID
	return q.b.exec(ctx, enqueueScript, q.sessionKeys(id),
		[]string{id, strconv.FormatUint(u.Session.Version, 10), rueidis.BinaryString(u.Session.AppendBinary(nil)),
			strconv.Itoa(int(u.Changed)), "0", strconv.Itoa(q.size), ms(q.b.cfg.StateTTL),
			client, strconv.Itoa(ClientShare(q.size)), strconv.FormatInt(q.bytes, 10), incarnation(u)}).ToString()
}

func (q *redisQueue) claim(ctx context.Context, n int, token string) (claimBatch, error) {
	vals, err := q.b.exec(ctx, claimScript, q.claimKeys(), q.claimArgs(n, token)).ToArray()
	if err != nil {
		return claimBatch{}, err
	}
	return q.parseBatch(vals)
}

func (q *redisQueue) claimKeys() []string {
	return []string{q.keys.due, q.keys.lease, q.keys.clients, q.keys.bytes}
}

func (q *redisQueue) claimArgs(n int, token string) []string {
	cfg := &q.b.cfg
	return []string{strconv.Itoa(cfg.MaxAttempts), strconv.Itoa(n), ms(cfg.Lease), q.keys.state, token, ms(cfg.StateTTL)}
}

// parseBatch reads claimScript's answer.
func (q *redisQueue) parseBatch(vals []rueidis.RedisMessage) (claimBatch, error) {
	if len(vals) < 3 {
		return claimBatch{}, fmt.Errorf("claim script answered %d values", len(vals))
	}
	back, _ := vals[0].AsInt64()
	nextMS, _ := vals[1].AsInt64()
	gaveUp, _ := vals[2].AsInt64()
	out := claimBatch{tookBack: int(back), gaveUp: int(gaveUp), next: -1}
	if nextMS >= 0 {
		out.next = time.Duration(nextMS) * time.Millisecond
	}
	for _, v := range vals[3:] {
		c, err := parseClaim(v)
		if err != nil {
			q.b.errs.record("claim", err)
			continue
		}
		out.claims = append(out.claims, c)
	}
	return out, nil
}

// parseClaim reads one claim of claimScript's answer.
func parseClaim(v rueidis.RedisMessage) (claim, error) {
	f, err := v.ToArray()
	if err != nil || len(f) != 10 {
		return claim{}, fmt.Errorf("claim of %d fields: %v", len(f), err)
	}
	str := func(i int) string { s, _ := f[i].ToString(); return s }
	num := func(i int) int64 {
		if n, err := f[i].AsInt64(); err == nil {
			return n
		}
		n, _ := strconv.ParseInt(str(i), 10, 64)
		return n
	}
	c := claim{
		id: str(0), version: uint64(num(1)), changes: model.Change(num(3)),
		attempt: int(num(4)), streak: int(num(5)), delivered: str(6), token: str(7), superseded: num(8) == 1,
		since: uint64(num(9)),
	}
	u := &Update{Changed: c.changes}
	if err := u.Session.UnmarshalBinary([]byte(str(2))); err == nil && u.Session.Version == c.version {
		c.u = u
	}
	return c, nil
}

func (q *redisQueue) complete(ctx context.Context, c claim, r completion) (int64, error) {
	var le string
	if r.failure != nil {
		b, _ := json.Marshal(r.failure)
		le = string(b)
	}
	return q.b.exec(ctx, completeScript, q.sessionKeys(c.id),
		[]string{c.id, c.token, r.result, "0", msCeil(r.next), r.fp, ms(q.b.cfg.StateTTL), r.streak, le}).AsInt64()
}

func (q *redisQueue) cancel(ctx context.Context, id string) (int, error) {
	n, err := q.b.exec(ctx, cancelScript, q.sessionKeys(id), []string{id}).AsInt64()
	return int(n), err
}

func (q *redisQueue) retry(ctx context.Context, u *Update) (string, error) {
	id := u.Session.ID
	return q.b.exec(ctx, retryScript, []string{q.keys.state + id, q.keys.due, q.keys.lease, q.keys.bytes},
		[]string{id, strconv.FormatUint(u.Session.Version, 10), rueidis.BinaryString(u.Session.AppendBinary(nil)),
			strconv.Itoa(int(u.Changed)), strconv.Itoa(q.size), strconv.FormatInt(q.bytes, 10), incarnation(u)}).ToString()
}

func (q *redisQueue) pending(ctx context.Context) (int, error) {
	c := q.b.c
	res := c.DoMulti(ctx, c.B().Zcard().Key(q.keys.due).Build(), c.B().Zcard().Key(q.keys.lease).Build())
	due, err1 := res[0].AsInt64()
	lease, err2 := res[1].AsInt64()
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return int(due + lease), nil
}

// status reads the session's delivery state: what any node did.
func (q *redisQueue) status(ctx context.Context, id string) (DeliveryStatus, error) {
	c := q.b.c
	res := c.DoMulti(ctx, c.B().Hgetall().Key(q.keys.state+id).Build(), c.B().Zscore().Key(q.keys.lease).Member(id).Build())
	h, err := res[0].AsStrMap()
	if err != nil {
		return DeliveryStatus{}, err
	}
	_, leaseErr := res[1].AsFloat64()
	if leaseErr != nil && !rueidis.IsRedisNil(leaseErr) {
		return DeliveryStatus{}, leaseErr
	}
	st := DeliveryStatus{Known: len(h) > 0, InFlight: leaseErr == nil && h["tok"] != ""}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	at := func(k string) time.Time {
		if n := num(k); n > 0 {
			return time.UnixMilli(n).UTC()
		}
		return time.Time{}
	}
	st.DeliveredVersion, st.DeliveredAt = uint64(num("dv")), at("dt")
	st.PendingVersion = uint64(max(num("pv"), num("fv")))
	if h["fv"] != "" {
		st.Attempts = int(num("att"))
	}
	st.NextAttemptAt = at("na")
	switch {
	case h["gt"] == "":
	case st.PendingVersion == 0:
		st.GivenUpAt, st.Attempts = at("gt"), int(num("ga"))
	default:
		st.lastErrorOld = true // the pending update has not failed yet
	}
	if le := h["le"]; le != "" {
		var f DeliveryFailure
		if err := json.Unmarshal([]byte(le), &f); err != nil {
			return DeliveryStatus{}, errors.New("outbox: unreadable last error in the delivery state")
		}
		st.LastError = &f
	}
	return st, nil
}

// incarnation names u's session's incarnation: its creation time, which
// a session created again under the same id (its store lost it) changes.
func incarnation(u *Update) string { return strconv.FormatInt(u.Session.CreatedAt.UnixMilli(), 10) }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// msCeil is d in whole milliseconds, rounded up: a Retry-After is a
// lower bound.
func msCeil(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

var _ queue = (*redisQueue)(nil)

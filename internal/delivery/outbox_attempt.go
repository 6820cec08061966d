package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// claim is one leased session, as the claim script returned it.
type claim struct {
	id         string
	version    uint64
	payload    []byte
	changes    model.Change
	attempt    int
	streak     int
	delivered  string // fingerprint of what the sink last got
	token      string
	superseded bool
	since      uint64 // the version the sink last delivered
	claimedAt  time.Time
}

// parseClaim reads one claim; at is the time the claim's lease was
// scored from.
func parseClaim(v rueidis.RedisMessage, at time.Time) (claim, error) {
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
	return claim{
		id: str(0), version: uint64(num(1)), payload: []byte(str(2)), changes: model.Change(num(3)),
		attempt: int(num(4)), streak: int(num(5)), delivered: str(6), token: str(7), superseded: num(8) == 1,
		since: uint64(num(9)), claimedAt: at,
	}, nil
}

// attempt makes the leased delivery and records its result.
func (q *outboxSink) attempt(c claim) {
	defer q.tries.Done()
	defer q.signal() // a slot is free
	defer q.inFlight.Add(-1)
	u := &Update{Changed: c.changes}
	if err := u.Session.UnmarshalBinary(c.payload); err != nil || u.Session.Version != c.version {
		// Not ours to deliver: give it up rather than retry it forever.
		q.o.log.Error("undecodable update in the outbox, dropped", zap.String("sink", q.name),
			zap.String("session_id", c.id), zap.Uint64("version", c.version), zap.Error(err))
		q.count(q.complete(c, "fail", 0, "", "reset", errors.New("undecodable update")), outFailed, 0)
		return
	}
	u.OccurredAt = u.Session.UpdatedAt
	var fp string
	if q.onChange {
		fp = stableFingerprint(&u.Session)
		if c.attempt == 1 && fp == c.delivered {
			q.count(q.complete(c, "skip", 0, fp, "keep", nil), outSkipped, 0)
			return
		}
	}
	u = withEventID(u, q.name)
	u.Since = c.since
	start := time.Now()
	fb, err := q.deliver(u, c)
	latency := time.Since(start)
	if err == nil && !fb.IsZero() {
		if f := q.o.onFeedback.Load(); f != nil {
			(*f)(q.name, u, fb)
		}
	}
	q.settle(c, fp, err, latency)
}

// deliver makes one attempt, bounded by Timeout and by the lease (less a
// margin, for clocks and the round trips around it), so that no other
// node starts this session while it runs.
func (q *outboxSink) deliver(u *Update, c claim) (fb Feedback, err error) {
	margin := min(time.Second, (q.o.cfg.Lease-q.o.cfg.Timeout)/2)
	deadline := c.claimedAt.Add(q.o.cfg.Lease - margin)
	ctx, cancel := context.WithDeadline(q.ctx, deadline)
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, q.o.cfg.Timeout)
	defer cancel2()
	defer func() {
		if p := recover(); p != nil {
			err = &DeliveryError{Err: fmt.Errorf("sink panicked: %v", p)}
		}
	}()
	return q.sink.Deliver(ctx, u)
}

// settle records the attempt's outcome in Redis and in the counters.
func (q *outboxSink) settle(c claim, fp string, err error, latency time.Duration) {
	cfg := &q.o.cfg.Config
	switch {
	case err == nil:
		q.attempted(c, q.count(q.complete(c, "ok", 0, fp, "reset", nil), outDelivered, latency), outDelivered)
	case q.ctx.Err() != nil && Retryable(err):
		// Cut short by Close: hand the lease back so that another node (or
		// this one's successor) goes on at once.
		q.complete(c, "release", 0, "", "keep", nil)
	case Retryable(err) && c.attempt < cfg.MaxAttempts:
		q.attempted(c, q.count(q.complete(c, "retry", cfg.retryDelay(c.streak, err), "", "incr", err), outRetried, latency), outRetried)
	default:
		var next time.Duration
		streak := "reset"
		if Retryable(err) {
			// The upstream struggles: the waiting update, if any, waits too.
			next, streak = cfg.retryDelay(c.streak, err), "incr"
		}
		if q.attempted(c, q.count(q.complete(c, "fail", next, "", streak, err), outFailed, latency), outFailed) {
			q.summary.fail(c.id, c.attempt, err)
		}
	}
}

// attempted tells OnAttempt of an outcome that was ours to record, and
// returns whether it was.
func (q *outboxSink) attempted(c claim, ours bool, o outcome) bool {
	if ours {
		attempted(q.o.onAttempt.Load(), q.name, c.id, c.version, o)
	}
	return ours
}

// The codes of completeScript (and -1: Redis did not answer).
const (
	completeLost      = 0 // taken over: the other node counts
	completeDone      = 1
	completeCancelled = 2 // cancelled while in flight: dropped
)

// count counts outcome o when the result was ours to record, and reports
// whether it was.
func (q *outboxSink) count(code int64, o outcome, latency time.Duration) bool {
	switch code {
	case completeDone:
		q.result(o, 1, latency)
		return true
	case completeCancelled:
		q.result(outDropped, 1, 0)
	}
	return false
}

// complete records result and returns completeScript's code. A lost
// lease (taken over) is not an error: the result is not ours to record.
func (q *outboxSink) complete(c claim, result string, next time.Duration, fp, streak string, failure error) int64 {
	var le string
	if failure != nil {
		b, _ := json.Marshal(failureOf(failure, time.Now()))
		le = string(b)
	}
	code, err := q.o.exec(context.Background(), completeScript,
		[]string{q.keys.state + c.id, q.keys.due, q.keys.lease, q.keys.clients},
		[]string{c.id, c.token, result, "0", msCeil(next), fp,
			ms(q.o.cfg.StateTTL), streak, le}).AsInt64()
	switch {
	case err != nil:
		// The lease runs out and another node makes the attempt again.
		q.o.errs.record("complete", err)
		return -1
	case code == completeLost:
		q.o.log.Debug("delivery lease lost (taken over)", zap.String("sink", q.name),
			zap.String("session_id", c.id), zap.Uint64("version", c.version))
	}
	return code
}

// msCeil is d in whole milliseconds, rounded up: a Retry-After is a
// lower bound.
func msCeil(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// stableFingerprint hashes what an OnChange sink compares. Unlike the
// in-process engine's it must be the same on every node: FNV-1a, not a
// seeded maphash.
func stableFingerprint(s *model.Session) string {
	part := model.Session{Cart: s.Cart, Customer: s.Customer, Orders: s.Orders}
	h := fnv.New64a()
	h.Write(part.AppendBinary(nil))
	return strconv.FormatUint(h.Sum64(), 36)
}

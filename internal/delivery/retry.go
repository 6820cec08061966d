package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

// What Retry did.
const (
	// RetryQueued: an attempt is due now (one that waited for its retry
	// was brought forward, or the session's current version was queued).
	RetryQueued = "queued"
	// RetryInFlight: an attempt is running already.
	RetryInFlight = "in_flight"
	// RetryDelivered: the sink has this version already; nothing to do.
	RetryDelivered = "delivered"
)

// Errors of Retry.
var (
	ErrUnknownSink = errors.New("no such sink")
	ErrQueueFull   = errors.New("the sink's queue is full")
	ErrClosed      = errors.New("the delivery engine is stopping")
)

// Retry implements Deliverer for the operator's "retry now": an attempt
// waiting for its backoff is made now, with its attempts counted afresh;
// a session that holds nothing undelivered (its update was given up) has
// u, its current state, queued now. The upstream's dedupe (event ids)
// makes a retry of something that did arrive harmless.
func (e *Engine) Retry(_ context.Context, sink string, u *Update) (string, error) {
	for _, q := range e.queues() {
		if q.name == sink {
			return q.retryNow(u)
		}
	}
	return "", fmt.Errorf("%w %q", ErrUnknownSink, sink)
}

func (q *sinkQueue) retryNow(u *Update) (string, error) {
	q.mu.Lock()
	res, superseded, err := q.retryNowLocked(u)
	q.count(outSuperseded, superseded)
	q.mu.Unlock()
	q.notify(outSuperseded, superseded, 0)
	return res, err
}

func (q *sinkQueue) retryNowLocked(u *Update) (string, int, error) {
	if q.closed {
		return "", 0, ErrClosed
	}
	s := q.sessions[u.Session.ID]
	if s != nil {
		switch s.state {
		case slotRunning:
			return RetryInFlight, 0, nil
		case slotReady:
			return RetryQueued, 0, nil
		case slotBackoff:
			if s.timer != nil {
				s.timer.Stop() // its retry finds the slot no longer in backoff
			}
			s.attempts = 0
			return RetryQueued, q.retryLocked(s), nil
		}
		if s.status.deliveredVersion >= u.Session.Version {
			return RetryDelivered, 0, nil
		}
	}
	if q.admitIdle(s, u) == outDropped {
		return "", 0, ErrQueueFull
	}
	return RetryQueued, 0, nil
}

// Retry implements Deliverer, fleet-wide: whichever node has a free slot
// makes the attempt.
func (o *Outbox) Retry(ctx context.Context, sink string, u *Update) (string, error) {
	for _, q := range o.queues() {
		if q.name != sink {
			continue
		}
		id := u.Session.ID
		ctx, cancel := context.WithTimeout(ctx, o.cfg.CommandTimeout)
		defer cancel()
		res, err := o.exec(ctx, retryScript, []string{q.keys.state + id, q.keys.due, q.keys.lease},
			[]string{id, strconv.FormatUint(u.Session.Version, 10), rueidis.BinaryString(u.Session.AppendBinary(nil)),
				strconv.Itoa(int(u.Changed)), strconv.Itoa(o.cfg.QueueSize)}).ToString()
		if err != nil {
			return "", err
		}
		if res == "dropped" {
			return "", ErrQueueFull
		}
		q.signal()
		return res, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownSink, sink)
}

// retryScript is the outbox's "retry now" (see Outbox.Retry).
//
//	KEYS  S:s:<id>, S:due, S:lease
//	ARGV  id, version, payload, changes, queue size
//
// Returns "in_flight", "queued", "delivered" or "dropped" (queue full).
var retryScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'tok', 'fv', 'pv', 'dv')
if f[1] then return 'in_flight' end
if f[2] or f[3] then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('HSET', KEYS[1], 'att', 0)
  redis.call('HDEL', KEYS[1], 'na')
  return 'queued'
end
if (tonumber(f[4]) or 0) >= tonumber(ARGV[2]) then return 'delivered' end
if redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return 'dropped'
end
redis.call('HSET', KEYS[1], 'pv', ARGV[2], 'pp', ARGV[3], 'pc', ARGV[4])
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 'queued'
`)

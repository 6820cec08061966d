package delivery

import (
	"context"
	"errors"
	"fmt"

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
	// ErrNoConsent refuses a retry of a session whose visitor did not
	// grant what the sink requires.
	ErrNoConsent = errors.New("the visitor did not consent to what the sink requires")
)

// Retry implements Deliverer for the operator's "retry now": an attempt
// waiting for its backoff is made now, with its attempts counted afresh;
// a session that holds nothing undelivered (its update was given up) has
// u, its current state, queued now. The upstream's dedupe (event ids)
// makes a retry of something that did arrive harmless.
func (e *Engine) Retry(ctx context.Context, sink string, u *Update) (string, error) {
	if e.closed.Load() {
		return "", ErrClosed
	}
	for _, r := range e.runners() {
		if r.name != sink {
			continue
		}
		if !u.Session.Consent.Allows(r.requires) {
			return "", ErrNoConsent
		}
		ctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
		defer cancel()
		res, err := r.q.retry(ctx, u)
		if err != nil {
			return "", err
		}
		if res == admitDropped {
			return "", ErrQueueFull
		}
		r.signal()
		return res, nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownSink, sink)
}

// retryScript is the outbox's "retry now" (see Engine.Retry).
//
//	KEYS  S:s:<id>, S:due, S:lease, S:bytes
//	ARGV  id, version, payload, changes, queue size, queue bytes, incarnation
//
// Returns "in_flight", "queued", "delivered" or "dropped" (queue full).
var retryScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ep = redis.call('HGET', KEYS[1], 'ep')
if ep and ep ~= ARGV[7] then
  -- created again: what the sink had of the old session says nothing of
  -- this one (see enqueueScript)
  redis.call('HDEL', KEYS[1], 'lv', 'dv', 'dt', 'dfp')
end
local f = redis.call('HMGET', KEYS[1], 'tok', 'fv', 'pv', 'dv')
if f[1] then return 'in_flight' end
if f[2] or f[3] then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('HSET', KEYS[1], 'att', 0)
  redis.call('HDEL', KEYS[1], 'na')
  return 'queued'
end
if (tonumber(f[4]) or 0) >= tonumber(ARGV[2]) then return 'delivered' end
if redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) or
    (tonumber(redis.call('GET', KEYS[4])) or 0) + string.len(ARGV[3]) > tonumber(ARGV[6]) then
  return 'dropped'
end
redis.call('HSET', KEYS[1], 'pv', ARGV[2], 'pp', ARGV[3], 'pc', ARGV[4], 'ep', ARGV[7])
redis.call('INCRBY', KEYS[4], string.len(ARGV[3]))
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 'queued'
`)

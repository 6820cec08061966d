package cache

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
)

// keyShards is how many hash tags a store's session keys are spread over.
// Every key of one session (the session, its shard's write log, its
// customer index entries) carries the session's tag, so that one script
// may write them all, on Redis Cluster too.
const keyShards = keytag.Shards

// shardTag is id's hash tag, "{00}" to "{3f}" (see keytag).
func shardTag(id string) string { return keytag.For(id) }

// sessionKey names a session: P + "s:" + tag + id.
func (r *Redis) sessionKey(id string) string { return r.cfg.Prefix + "s:" + shardTag(id) + id }

// legacyKey is where versions before the hash tags kept a session: P +
// "s:" + id. Read (and moved on its next write) while such a session may
// still live: see layout.
func (r *Redis) legacyKey(id string) string { return r.cfg.Prefix + "s:" + id }

// layoutScript records, once per prefix, when the first node with the
// tagged key layout started (server time, ms), and returns that and now.
var layoutScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now, 'NX')
return {tonumber(redis.call('GET', KEYS[1])), now}
`)

// layout keeps the window during which sessions written before the hash
// tags may still live: one TTL from the first start with tags. Within
// it, a read that misses the tagged key looks at the old one too, in the
// same round trip, and a write moves the session.
type layout struct {
	legacyUntil atomic.Int64 // unix ms, this node's clock
}

// start reads (or sets) when the tagged layout began.
func (l *layout) start(ctx context.Context, r *Redis) error {
	v, err := r.exec(ctx, layoutScript, []string{r.cfg.Prefix + "layout"}, nil).AsIntSlice()
	if err != nil || len(v) != 2 {
		return r.fail("reading the key layout's start", err)
	}
	// Server times, turned into this node's clock.
	left := v[0] + r.cfg.TTL.Milliseconds() - v[1]
	l.legacyUntil.Store(time.Now().UnixMilli() + left)
	return nil
}

// migrating reports whether an untagged session may still live.
func (l *layout) migrating() bool { return time.Now().UnixMilli() < l.legacyUntil.Load() }

// readBoth reads id's tagged key and its legacy key in one round trip;
// legacy is true when only the latter holds the session.
func (r *Redis) readBoth(ctx context.Context, id string) (raw []byte, legacy bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var res []rueidis.RedisResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = r.c.DoMulti(ctx, r.c.B().Get().Key(r.sessionKey(id)).Build(), r.c.B().Get().Key(r.legacyKey(id)).Build())
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	for i, rr := range res {
		b, err := rr.AsBytes()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return b, i == 1, nil
	}
	return nil, false, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

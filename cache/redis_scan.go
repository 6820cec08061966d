package cache

import (
	"context"
	"strings"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// scanBatch is the COUNT hint of Range's SCAN and the size of the MGETs of
// Range and Linked: large enough for few round trips, small enough that
// one reply stays well under Timeout.
const scanBatch = 256

// pruneScript takes ids out of an index set, each only if its session is
// still exactly what Linked read (absent, or not linked), so that a write
// made since, which kept the set itself, is never undone.
//
//	KEYS[1] the index set; KEYS[1+i] session i's key
//	ARGV[i] session i's id; ARGV[n+i] its value as read, "" when absent
var pruneScript = rueidis.NewLuaScript(`
local n = #KEYS - 1
for i = 1, n do
  if (redis.call('GET', KEYS[i + 1]) or '') == ARGV[n + i] then
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return 0
`)

// Range implements Store.Range with SCAN over the prefix's session keys: a
// walk of the server's whole keyspace (every prefix), for operators only.
// As SCAN goes, a session may be seen twice when Redis rehashes meanwhile.
func (r *Redis) Range(ctx context.Context, fn func(*model.Session) bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	match := globEscape(r.cfg.Prefix) + "s:*"
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := r.do(ctx, r.c.B().Scan().Cursor(cursor).Match(match).Count(scanBatch).Build()).AsScanEntry()
		if err != nil {
			return r.fail("scanning sessions", err)
		}
		if len(e.Elements) > 0 {
			more, err := r.rangeKeys(ctx, e.Elements, fn)
			if err != nil || !more {
				return err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}

// rangeKeys reads a batch of session keys and calls fn with each live,
// decodable session; more is false once fn asked to stop.
func (r *Redis) rangeKeys(ctx context.Context, keys []string, fn func(*model.Session) bool) (more bool, err error) {
	msgs, err := r.do(ctx, r.c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return false, r.fail("reading sessions", err)
	}
	for i := range msgs {
		raw, err := msgs[i].AsBytes()
		if err != nil {
			continue // expired since the SCAN
		}
		s := new(model.Session)
		if s.UnmarshalBinaryShared(raw) != nil {
			continue
		}
		if !fn(s) {
			return false, nil
		}
	}
	return true, nil
}

// Linked implements Store.Linked from the customer index, without a scan:
// SMEMBERS of ref's set, then the sessions by MGET. Members whose session
// expired or no longer links ref are dropped from the set on the way.
func (r *Redis) Linked(ctx context.Context, ref string) ([]*model.Session, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if ref == "" {
		return nil, nil
	}
	set := r.indexKey(ref)
	ids, err := r.do(ctx, r.c.B().Smembers().Key(set).Build()).AsStrSlice()
	if err != nil {
		return nil, r.fail("reading the customer index", err)
	}
	var linked []*model.Session
	var stale staleMembers
	for len(ids) > 0 {
		batch := ids[:min(len(ids), scanBatch)]
		ids = ids[len(batch):]
		keys, raws, err := r.readMany(ctx, batch)
		if err != nil {
			return nil, r.fail("reading linked sessions", err)
		}
		for i, raw := range raws {
			if raw == nil { // absent: expired or evicted
				stale.add(keys[i], batch[i], nil)
				continue
			}
			s := new(model.Session)
			if s.UnmarshalBinaryShared(raw) == nil && s.LinkedTo(ref) {
				linked = append(linked, s)
				continue
			}
			stale.add(keys[i], batch[i], raw)
		}
	}
	// Best effort: a failed clean-up leaves members the next call drops.
	if len(stale.ids) > 0 {
		_ = r.exec(ctx, pruneScript, append([]string{set}, stale.keys...), append(stale.ids, stale.vals...)).Error()
	}
	return linked, nil
}

// readMany reads sessions by MGET: raws[i] is ids[i]'s value (nil when
// absent) and keys[i] the key it was read from, the untagged one when the
// session has not moved yet (see layout).
func (r *Redis) readMany(ctx context.Context, ids []string) (keys []string, raws [][]byte, err error) {
	keys = make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.sessionKey(id)
	}
	raws, err = r.mget(ctx, keys)
	if err != nil || !r.layout.migrating() {
		return keys, raws, err
	}
	var missing []int
	var legacy []string
	for i, raw := range raws {
		if raw == nil {
			missing = append(missing, i)
			legacy = append(legacy, r.legacyKey(ids[i]))
		}
	}
	if len(missing) == 0 {
		return keys, raws, nil
	}
	old, err := r.mget(ctx, legacy)
	for j, i := range missing {
		if err == nil && old[j] != nil {
			keys[i], raws[i] = legacy[j], old[j]
		}
	}
	return keys, raws, err
}

func (r *Redis) mget(ctx context.Context, keys []string) ([][]byte, error) {
	msgs, err := r.do(ctx, r.c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return nil, err
	}
	raws := make([][]byte, len(msgs))
	for i := range msgs {
		raws[i], _ = msgs[i].AsBytes() // nil: absent
	}
	return raws, nil
}

// staleMembers are the index members Linked found dead, with what it read.
type staleMembers struct{ keys, ids, vals []string }

func (m *staleMembers) add(key, id string, raw []byte) {
	m.keys = append(m.keys, key)
	m.ids = append(m.ids, id)
	m.vals = append(m.vals, rueidis.BinaryString(raw))
}

// globEscape quotes the glob characters of s for SCAN MATCH, so that a
// prefix like "a*" does not match another prefix's keys.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if strings.IndexByte(`*?[]\^-`, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

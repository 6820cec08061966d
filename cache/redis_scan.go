package cache

import (
	"context"
	"strings"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
	"github.com/sessiontap/caddy-sessiontap/internal/luamulti"

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
var pruneScript = luamulti.New(`
local n = #KEYS - 1
for i = 1, n do
  if (redis.call('GET', KEYS[i + 1]) or '') == ARGV[n + i] then
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return 0
`)

// Range implements Store.Range with SCAN over the prefix's session keys: a
// walk of the server's whole keyspace (every prefix), for operators only;
// on a Redis Cluster, of every primary's in turn. As SCAN goes, a session
// may be seen twice when Redis rehashes meanwhile.
func (r *Redis) Range(ctx context.Context, fn func(*model.Session) bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	nodes := []rueidis.Client{r.c}
	if r.cluster {
		var err error
		if nodes, err = r.primaries(ctx); err != nil {
			return r.fail("finding the cluster's primaries", err)
		}
	}
	for _, node := range nodes {
		if more, err := r.scan(ctx, node, fn); err != nil || !more {
			return err
		}
	}
	return nil
}

// scan is Range on one server; more is false once fn asked to stop.
func (r *Redis) scan(ctx context.Context, node rueidis.Client, fn func(*model.Session) bool) (more bool, err error) {
	match := globEscape(r.cfg.Prefix) + "s:*"
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		e, err := r.doOn(ctx, node, node.B().Scan().Cursor(cursor).Match(match).Count(scanBatch).Build()).AsScanEntry()
		if err != nil {
			return false, r.fail("scanning sessions", err)
		}
		if len(e.Elements) > 0 {
			if more, err := r.rangeKeys(ctx, e.Elements, fn); err != nil || !more {
				return more, err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return true, nil
		}
	}
}

// rangeKeys reads a batch of session keys and calls fn with each live,
// decodable session; more is false once fn asked to stop.
func (r *Redis) rangeKeys(ctx context.Context, keys []string, fn func(*model.Session) bool) (more bool, err error) {
	raws, err := r.mget(ctx, keys)
	if err != nil {
		return false, r.fail("reading sessions", err)
	}
	for _, raw := range raws {
		if raw == nil {
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
// the members of ref's sets (one per tag), then the sessions. Members
// whose session expired or no longer links ref are dropped from their set
// on the way.
func (r *Redis) Linked(ctx context.Context, ref string) ([]*model.Session, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if ref == "" {
		return nil, nil
	}
	members, err := r.indexMembers(ctx, ref)
	if err != nil {
		return nil, r.fail("reading the customer index", err)
	}
	var linked []*model.Session
	stale := map[string]*staleMembers{} // by set
	for len(members) > 0 {
		batch := members[:min(len(members), scanBatch)]
		members = members[len(batch):]
		ids := make([]string, len(batch))
		for i, m := range batch {
			ids[i] = m.id
		}
		keys, raws, err := r.readMany(ctx, ids)
		if err != nil {
			return nil, r.fail("reading linked sessions", err)
		}
		for i, raw := range raws {
			s := new(model.Session)
			if raw != nil && s.UnmarshalBinaryShared(raw) == nil && s.LinkedTo(ref) {
				linked = append(linked, s)
				continue
			}
			// absent (expired, evicted) or no longer linked
			m := stale[batch[i].set]
			if m == nil {
				m = &staleMembers{}
				stale[batch[i].set] = m
			}
			m.add(keys[i], batch[i].id, raw)
		}
	}
	r.prune(ctx, stale)
	return linked, nil
}

// member is one id in one of a reference's index sets.
type member struct{ set, id string }

// indexMembers reads ref's index sets, one per tag (and the untagged one
// of earlier versions, on a standalone server), in one round trip per
// node. An id is listed once, from the first set that has it.
func (r *Redis) indexMembers(ctx context.Context, ref string) ([]member, error) {
	sets := make([]string, 0, keyShards+1)
	for i := range keyShards {
		sets = append(sets, r.indexKey(ref, keytag.Tag(i)))
	}
	if !r.cluster {
		sets = append(sets, r.legacyIndexKey(ref))
	}
	cmds := make(rueidis.Commands, len(sets))
	for i, set := range sets {
		cmds[i] = r.c.B().Smembers().Key(set).Build()
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var res []rueidis.RedisResult
	if err := bounded(ctx, func() rueidis.RedisResult {
		res = r.c.DoMulti(ctx, cmds...)
		return rueidis.RedisResult{}
	}).Error(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []member
	for i, rr := range res {
		ids, err := rr.AsStrSlice()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, member{set: sets[i], id: id})
			}
		}
	}
	return out, nil
}

// prune takes dead members out of their sets, one script per set (each
// set and its members' sessions share a slot). Best effort: a failed
// clean-up leaves members the next call drops.
func (r *Redis) prune(ctx context.Context, stale map[string]*staleMembers) {
	if len(stale) == 0 {
		return
	}
	execs := make([]rueidis.LuaExec, 0, len(stale))
	for set, m := range stale {
		execs = append(execs, rueidis.LuaExec{Keys: append([]string{set}, m.keys...), Args: append(m.ids, m.vals...)})
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	_ = bounded(ctx, func() rueidis.RedisResult {
		pruneScript.Exec(ctx, r.c, execs)
		return rueidis.RedisResult{}
	})
}

// readMany reads sessions: raws[i] is ids[i]'s value (nil when absent)
// and keys[i] the key it was read from, the untagged one when the session
// has not moved yet (see layout).
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

// mget reads keys, nil for each absent one: one MGET on a standalone
// server, one per slot on a cluster.
func (r *Redis) mget(ctx context.Context, keys []string) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var got map[string]rueidis.RedisMessage
	err := bounded(ctx, func() rueidis.RedisResult {
		var err error
		got, err = rueidis.MGet(r.c, ctx, keys)
		return rueidis.NewErrorResult(err)
	}).Error()
	if err != nil {
		return nil, err
	}
	raws := make([][]byte, len(keys))
	for i, k := range keys {
		if m, ok := got[k]; ok {
			raws[i], _ = m.AsBytes() // nil: absent
		}
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

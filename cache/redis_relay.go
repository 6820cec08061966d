package cache

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
	"github.com/sessiontap/caddy-sessiontap/internal/luamulti"
)

// The write log. A write whose deliveries must survive the node that made
// it (a node may die between storing a write and queuing its deliveries)
// is marked in its shard's write log by the very script that stores it:
// for each log name L (one per delivery configuration) and shard tag T,
//
//	P + "r:" + T + L + ":w"  ZSET  session id -> when its oldest write not
//	                               yet relayed was made (ms, server time)
//	P + "r:" + T + L + ":v"  HASH  session id -> "first last": the first
//	                               and last version not yet relayed
//
// The writer relays the write (queues its deliveries) and says so
// (Relayed); what stays in the log longer than a writer needs is taken
// by any node (Unrelayed) and relayed from the stored session. The log's
// keys expire one TTL after their last write, as the sessions in them do.

type relayKey struct{}

// relayMark is what WithRelay puts in a context: the log's name, and
// whether the write being made is to be left out (RelayNone).
type relayMark struct {
	name string
	none bool
}

// WithRelay marks the writes made with ctx as ones whose deliveries must
// survive the writer: the Redis store records them in write log name
// (letters, digits, '-' and '_') in the same script that stores them. The
// embedded store, whose deliveries live and die with the process, ignores
// it.
func WithRelay(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, relayKey{}, &relayMark{name: name})
}

// RelayNone says, from an update function running with a ctx of
// WithRelay, whether the write it makes leads to no delivery (a page view
// that changed nothing a sink is told of): such a write is not logged,
// since nothing would ever take it out of the log. The last call of the
// last run of the function counts.
func RelayNone(ctx context.Context, none bool) {
	if m, ok := ctx.Value(relayKey{}).(*relayMark); ok {
		m.none = none
	}
}

func relayOf(ctx context.Context) string {
	m, ok := ctx.Value(relayKey{}).(*relayMark)
	if !ok || m.none {
		return ""
	}
	return m.name
}

// relayKeys names the write log of name in tag's shard.
func (r *Redis) relayKeys(name, tag string) (w, v string) {
	base := r.cfg.Prefix + "r:" + tag + name
	return base + ":w", base + ":v"
}

// logLua marks a write in the write log; casScript includes it.
//
//	log(wkey, vkey, id, version, ttl ms)
const logLua = `
local function log(wkey, vkey, id, version, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', wkey, 'NX', now, id)
  local cur = redis.call('HGET', vkey, id)
  local first = version
  if cur then first = string.match(cur, '^(%d+)') end
  redis.call('HSET', vkey, id, first .. ' ' .. version)
  for _, k in ipairs({wkey, vkey}) do
    if redis.call('PTTL', k) < tonumber(ttl) then redis.call('PEXPIRE', k, ttl) end
  end
end
`

// relayedScript takes a session's writes up to a version out of the log.
//
//	KEYS  w, v; ARGV  id, version
var relayedScript = rueidis.NewLuaScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
local first, last = string.match(cur, '^(%d+) (%d+)$')
local v = tonumber(ARGV[2])
if tonumber(last) <= v then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
if tonumber(first) <= v then redis.call('HSET', KEYS[2], ARGV[1], (v + 1) .. ' ' .. last) end
return 0
`)

// unrelayedScript takes up to n entries older than age (ms) and makes them
// look new, so that no other node takes them before age passes again (the
// taker died, say).
//
//	KEYS  w, v; ARGV  age, n
//
// Returns {id, "first last", ...}.
var unrelayedScript = luamulti.New(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local cur = redis.call('HGET', KEYS[2], id)
  if cur then
    redis.call('ZADD', KEYS[1], 'XX', now, id)
    out[#out + 1] = id
    out[#out + 1] = cur
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

// Unrelayed is a write in the log that its writer did not relay in time.
type Unrelayed struct {
	ID string
	// First and Last are the first and the last version not relayed.
	First, Last uint64
}

// Relayed says that session id's writes up to version are relayed (its
// deliveries queued, or the session gone): they leave log name.
func (r *Redis) Relayed(ctx context.Context, name, id string, version uint64) error {
	w, v := r.relayKeys(name, shardTag(id))
	err := r.exec(ctx, relayedScript, []string{w, v}, []string{id, strconv.FormatUint(version, 10)}).Error()
	if err != nil {
		return r.fail("clearing the write log", err)
	}
	return nil
}

// Unrelayed takes up to n entries per shard of log name that are older
// than age, and hides them from other callers for age: the caller relays
// each and calls Relayed, or they come back.
func (r *Redis) Unrelayed(ctx context.Context, name string, age time.Duration, n int) ([]Unrelayed, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	execs := make([]rueidis.LuaExec, keyShards)
	for i := range execs {
		w, v := r.relayKeys(name, keytag.Tag(i))
		execs[i] = rueidis.LuaExec{Keys: []string{w, v}, Args: []string{itoa(age.Milliseconds()), strconv.Itoa(n)}}
	}
	ctx, cancel := context.WithTimeout(ctx, 4*r.cfg.Timeout)
	defer cancel()
	var out []Unrelayed
	for _, res := range unrelayedScript.Exec(ctx, r.c, execs) {
		vals, err := res.AsStrSlice()
		if err != nil {
			return out, r.fail("reading the write log", err)
		}
		for i := 0; i+1 < len(vals); i += 2 {
			first, last, _ := strings.Cut(vals[i+1], " ")
			u := Unrelayed{ID: vals[i]}
			u.First, _ = strconv.ParseUint(first, 10, 64)
			u.Last, _ = strconv.ParseUint(last, 10, 64)
			out = append(out, u)
		}
	}
	return out, nil
}

package delivery

import (
	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/luamulti"
)

// The outbox's scripts. Per sink (S is the outbox prefix plus the sink's
// name) there are two sorted sets of session ids and a hash per session:
//
//	S:due    ZSET  sessions with an attempt to make, scored by when (ms)
//	S:lease  ZSET  sessions with an attempt in flight, scored by when the
//	               lease runs out (ms)
//	S:s:<id> HASH  the session as the sink sees it:
//	               pv pp pc  the waiting update: version, payload, changes
//	               fv fp fc  the update being attempted (in flight, or
//	                         waiting for its retry)
//	               tok       the lease token of the attempt in flight
//	               att stk   attempts of fv; consecutive failures (backoff)
//	               lv        the highest version started
//	               dfp       fingerprint of what was last delivered
//	               dv dt     the last delivered version and when (ms)
//	               le na     the last failure (JSON); when the retry is due
//	               ga gt     attempts made at the last update given up, and
//	                         when (ms); removed once one is delivered or
//	                         skipped, or a later one fails
//	               cl        the client key the session is charged to
//	                         while held (in due or lease)
//	               ep        the session's incarnation (its creation time,
//	                         ms): a session created again under its id
//	                         (its store lost it) starts afresh; pv is
//	                         always of ep
//	               fe        the incarnation of fv
//	S:cl     HASH  client key → how many sessions it holds (in due or
//	               lease); a client at Config's ClientShare has updates
//	               for further sessions dropped. Client keys are HMACs of
//	               the client's network (redisBackend.clientKey), never addresses.
//	S:bytes  STRING the bytes of the payloads held (pp and fp of every
//	               session): past OutboxConfig.QueueBytes, updates for
//	               further sessions are dropped, so that the queue, which
//	               has no TTL, is bounded in memory as well as in sessions.
//
// A session is in at most one of due and lease, so at most one attempt per
// (sink, session) is ever in flight; the claim script moves it from due to
// lease atomically. The payload is the session's AppendBinary bytes.
// Times are the Redis server's (TIME), not the nodes': a node whose clock
// is off must not take a lease over early.
// The claim script builds per-session key names from the prefix it is
// given. On a Redis Cluster each sink's queue is split into shards
// (shardedQueue), S then ending in a hash tag: every key a script
// touches, named or built, is in that shard's slot.

// releaseLua defines release, which takes a session that stops being held
// off its client's count, and held, which changes the held bytes by n.
const releaseLua = `
local function held(key, n)
  if n ~= 0 then redis.call('INCRBY', key, n) end
end
local function release(st, counts)
  local cl = redis.call('HGET', st, 'cl')
  if cl then
    redis.call('HDEL', st, 'cl')
    if redis.call('HINCRBY', counts, cl, -1) <= 0 then redis.call('HDEL', counts, cl) end
  end
end
`

// enqueueScript queues an update.
//
//	KEYS  S:s:<id>, S:due, S:lease, S:cl, S:bytes
//	ARGV  id, version, payload, changes, delay before due (ms), queue size,
//	      state ttl (ms), client key ("": none), client share, queue bytes,
//	      incarnation
//
// Returns "queued", "superseded" (it replaced a waiting update), "stale"
// (a newer one is already queued or started) or "dropped" (queue full, or
// the client holds its share).
var enqueueScript = rueidis.NewLuaScript(releaseLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'pv', 'pc', 'fv', 'lv', 'tok', 'ep')
local pv, fv, lv = tonumber(f[1]) or 0, tonumber(f[3]) or 0, tonumber(f[4]) or 0
if f[6] and f[6] ~= ARGV[11] then
  -- created again: what the sink had of the old session says nothing of
  -- this one, whose versions start over
  redis.call('HDEL', KEYS[1], 'lv', 'dv', 'dt', 'dfp')
elseif v <= pv or v <= fv or v <= lv then
  return 'stale'
end
local changes = tonumber(ARGV[4])
local res = 'queued'
if pv > 0 then
  res = 'superseded'
  changes = bit.bor(changes, tonumber(f[2]) or 0)
elseif fv == 0 and not f[5] then
  -- not held (a cancelled attempt still in flight holds it: tok)
  if redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then
    return 'dropped'
  end
  if (tonumber(redis.call('GET', KEYS[5])) or 0) + string.len(ARGV[3]) > tonumber(ARGV[10]) then
    return 'dropped'
  end
  local cl = ARGV[8]
  if cl ~= '' and (tonumber(redis.call('HGET', KEYS[4], cl)) or 0) >= tonumber(ARGV[9]) then
    return 'dropped'
  end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
  if cl ~= '' then
    redis.call('HINCRBY', KEYS[4], cl, 1)
    redis.call('HSET', KEYS[1], 'cl', cl)
  end
end
held(KEYS[5], string.len(ARGV[3]) - redis.call('HSTRLEN', KEYS[1], 'pp'))
redis.call('HSET', KEYS[1], 'pv', ARGV[2], 'pp', ARGV[3], 'pc', changes, 'ep', ARGV[11])
-- Queued: the state must outlive any wait (backlog, backoff).
redis.call('PERSIST', KEYS[1])
return res
`)

// claimScript first takes back the leases that ran out (their node died
// or hung: the attempt is made again, with the same event id), then
// leases up to n due sessions to the caller.
//
//	KEYS  S:due, S:lease, S:cl, S:bytes
//	ARGV  max attempts, n, lease (ms), "S:s:", token prefix, state ttl (ms)
//
// An update whose attempts are used up (its nodes kept dying with it in
// flight) is given up instead of leased again, and its session released.
//
// Returns {taken back, ms until the next due session or -1, given up,
// claims...};
// a claim is {id, version, payload, changes, attempt, streak,
// delivered fingerprint, token, superseded (1 when a newer update replaced
// one waiting for its retry), delivered version}. A newer update that
// replaces one waiting for its retry takes over what it changed.
const claimLua = releaseLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  local st = ARGV[4] .. id
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', st, 'tok')
  if redis.call('HEXISTS', st, 'fv') == 1 or redis.call('HEXISTS', st, 'pv') == 1 then
    redis.call('ZADD', KEYS[1], now, id)
  else
    -- cancelled while in flight, nothing queued since: no longer held
    release(st, KEYS[3])
    redis.call('PEXPIRE', st, ARGV[6])
  end
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {#expired, -1, 0}
for i, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local st = ARGV[4] .. id
  local f = redis.call('HMGET', st, 'pv', 'pp', 'pc', 'fv', 'fp', 'fc', 'att', 'stk', 'dfp', 'dv')
  local sup = 0
  if f[1] then
    local fc = tonumber(f[3]) or 0
    if f[4] then
      sup = 1
      -- what the update replaced changed (its order) rides with this one
      fc = bit.bor(fc, tonumber(f[6]) or 0)
      held(KEYS[4], -redis.call('HSTRLEN', st, 'fp'))
    end
    redis.call('HSET', st, 'fv', f[1], 'fp', f[2], 'fc', fc, 'lv', f[1], 'fe', redis.call('HGET', st, 'ep') or '')
    redis.call('HDEL', st, 'pv', 'pp', 'pc')
    f[4], f[5], f[6], f[7] = f[1], f[2], tostring(fc), '0'
  end
  if f[4] and (tonumber(f[7]) or 0) >= tonumber(ARGV[1]) then
    held(KEYS[4], -redis.call('HSTRLEN', st, 'fp'))
    redis.call('HDEL', st, 'fv', 'fp', 'fc', 'att', 'tok', 'fe')
    redis.call('HSET', st, 'le', '{"message":"given up: its attempts were used up by nodes that stopped during them"}',
      'ga', f[7], 'gt', now)
    redis.call('PEXPIRE', st, ARGV[6])
    release(st, KEYS[3])
    out[3] = out[3] + 1
  elseif f[4] then
    local tok = ARGV[5] .. ':' .. i
    local att = (tonumber(f[7]) or 0) + 1
    redis.call('HSET', st, 'tok', tok, 'att', att)
    redis.call('PERSIST', st)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    out[#out + 1] = {id, f[4], f[5], f[6] or '0', att, f[8] or '0', f[9] or '', tok, sup, f[10] or '0'}
  else
    release(st, KEYS[3])
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] then out[2] = math.max(0, tonumber(nxt[2]) - now) end
return out
`

var (
	claimScript = rueidis.NewLuaScript(claimLua)
	// claimShards runs it on many shards at once (shardedQueue).
	claimShards = luamulti.New(claimLua)
)

// completeScript records an attempt's result, if the caller still holds
// the lease (a node whose lease ran out finds its work taken over, and
// its result is ignored).
//
//	KEYS  S:s:<id>, S:due, S:lease, S:cl, S:bytes
//	ARGV  id, token, result, unused, delay before next due (ms), fingerprint, state ttl,
//	      streak ("reset", "incr" or "keep"), the failure as JSON ("": none)
//
// result: "ok" (delivered: remember the fingerprint), "skip" or "fail"
// (the update is done with), "retry" (attempt it again at next due),
// "release" (not attempted after all: due again now, attempt not counted).
// The session's waiting update, if any, becomes due at next due. Returns 1;
// 2 when the session was cancelled while the attempt ran (the result is
// dropped; an update queued since becomes due now); 0 when the lease was
// lost. The state expires ttl after the session goes idle, never while
// queued.
var completeScript = rueidis.NewLuaScript(releaseLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nextdue = now + tonumber(ARGV[5])
local f = redis.call('HMGET', KEYS[1], 'tok', 'pv', 'fv', 'pc', 'fc')
if f[1] ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], 'tok')
if not f[3] then
  if f[2] then
    redis.call('ZADD', KEYS[2], now, ARGV[1])
  else
    redis.call('PEXPIRE', KEYS[1], ARGV[7])
    release(KEYS[1], KEYS[4])
  end
  return 2
end
local r = ARGV[3]
redis.call('HDEL', KEYS[1], 'na')
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'le', ARGV[9])
  redis.call('HDEL', KEYS[1], 'ga', 'gt')
end
if r == 'retry' then
  redis.call('ZADD', KEYS[2], nextdue, ARGV[1])
  redis.call('HSET', KEYS[1], 'na', nextdue)
elseif r == 'release' then
  redis.call('HINCRBY', KEYS[1], 'att', -1)
  redis.call('ZADD', KEYS[2], now, ARGV[1])
else
  -- what the sink got of an older incarnation says nothing of this one
  if r == 'ok' and redis.call('HGET', KEYS[1], 'fe') == redis.call('HGET', KEYS[1], 'ep') then
    redis.call('HSET', KEYS[1], 'dfp', ARGV[6], 'dv', redis.call('HGET', KEYS[1], 'fv'), 'dt', now)
  end
  if r == 'fail' then
    redis.call('HSET', KEYS[1], 'ga', redis.call('HGET', KEYS[1], 'att') or 0, 'gt', now)
    -- what the update given up changed (its order) rides with the next
    if f[2] then redis.call('HSET', KEYS[1], 'pc', bit.bor(tonumber(f[4]) or 0, tonumber(f[5]) or 0)) end
  else
    redis.call('HDEL', KEYS[1], 'ga', 'gt')
  end
  held(KEYS[5], -redis.call('HSTRLEN', KEYS[1], 'fp'))
  redis.call('HDEL', KEYS[1], 'fv', 'fp', 'fc', 'att', 'fe')
  if f[2] then redis.call('ZADD', KEYS[2], nextdue, ARGV[1]) end
end
if ARGV[8] == 'reset' then
  redis.call('HSET', KEYS[1], 'stk', 0)
elseif ARGV[8] == 'incr' then
  redis.call('HINCRBY', KEYS[1], 'stk', 1)
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  release(KEYS[1], KEYS[4])
end
return 1
`)

// cancelScript forgets a session for one sink: its waiting update, its
// retry and what the sink last got. An attempt in flight keeps its lease
// (only the token is left), so that nothing else for the session starts
// before it ends; its result is then dropped (completeScript's 2). It
// stays charged to its client until then.
//
//	KEYS  S:s:<id>, S:due, S:lease, S:cl, S:bytes
//	ARGV  id
//
// Returns how many updates it dropped that were not in flight.
var cancelScript = rueidis.NewLuaScript(releaseLua + `
local f = redis.call('HMGET', KEYS[1], 'pv', 'fv', 'tok', 'cl')
local dropped = 0
if f[1] then dropped = dropped + 1 end
if f[2] and not f[3] then dropped = dropped + 1 end
redis.call('ZREM', KEYS[2], ARGV[1])
held(KEYS[5], -(redis.call('HSTRLEN', KEYS[1], 'pp') + redis.call('HSTRLEN', KEYS[1], 'fp')))
if f[3] and redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'tok', f[3])
  if f[4] then redis.call('HSET', KEYS[1], 'cl', f[4]) end
else
  release(KEYS[1], KEYS[4])
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return dropped
`)

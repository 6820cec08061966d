package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/model"
)

const (
	// casAttempts bounds Update's and Delete's compare-and-set retries.
	// Only other nodes make them conflict (this one's writers of an id
	// queue on its stripe), so even a hot session needs few.
	casAttempts = 50
	// casBackoff is the first retry's largest random wait; it doubles up
	// to 32 times that.
	casBackoff = 200 * time.Microsecond
)

// ErrContended is returned by the Redis store's Update and Delete when
// other nodes kept changing the session through every attempt.
var ErrContended = errors.New("session store: too many concurrent writes to one session")

// errConflict is one lost compare-and-set, retried.
var errConflict = errors.New("session changed since it was read")

// errNotYourTurn is a compare-and-set refused because another node lost
// one and has the next turn (see casScript): wait, then try again.
var errNotYourTurn = fmt.Errorf("%w: another node's turn", errConflict)

// turnKey names the node whose turn it is to write a session, after it
// lost a compare-and-set: P + "m:" + tag + id, in the session's slot.
func (r *Redis) turnKey(id string) string { return r.cfg.Prefix + "m:" + shardTag(id) + id }

// casScript writes a session if it is still what the caller read, and
// marks the write in its shard's write log when asked to (see WithRelay).
//
//	KEYS[1]            the session key
//	KEYS[2], KEYS[3]   the write log's keys (see relayKeys), in KEYS[1]'s slot
//	KEYS[4]            the session's turn (see turnKey)
//	KEYS[5]            the sessions by last write (see updatedKey)
//	KEYS[6..n+5]       index sets to add the id to (every current link)
//	KEYS[n+6..]        index sets to remove it from (links it no longer has)
//	KEYS[#KEYS]        with ARGV[7] "1": the untagged key the session was
//	                   read from, deleted (it moves to KEYS[1])
//	ARGV[1]            "0": the session must be absent; "1": it must be ARGV[2]
//	ARGV[2]            the value read
//	ARGV[3]            the new value
//	ARGV[4]            TTL in milliseconds
//	ARGV[5]            the session id
//	ARGV[6]            n
//	ARGV[7]            "1" when the last key is the untagged one to delete
//	ARGV[8]            the new version
//	ARGV[9]            "1" to mark the write in the write log
//	ARGV[10]           the writing node (Redis.node)
//
// Returns {1} when written. On conflict (nothing written) it returns {0,
// the value KEYS[1] holds} (nil when absent, or when the untagged key
// changed) and gives the losing node the next turn: for 100 ms, or until
// it writes, other nodes' writes are refused with {2, the value}, and
// they wait before trying again. Without turns, a node whose writers
// skip their read (see recent) would win every race against one that
// must retry. An index set's expiry is only ever raised, so that it
// outlives every session in it. KEYS[5] scores the session by the
// write's time (server time, ms), and forgets sessions not written for a
// TTL.
var casScript = rueidis.NewLuaScript(logLua + `
local cur = redis.call('GET', KEYS[1])
local turn = redis.call('GET', KEYS[4])
if turn and turn ~= ARGV[10] then return {2, cur} end
if (ARGV[1] == '0' and cur) or (ARGV[1] == '1' and cur ~= ARGV[2]) then
  redis.call('SET', KEYS[4], ARGV[10], 'PX', 100)
  return {0, cur}
end
local last = #KEYS
if ARGV[7] == '1' then
  if redis.call('GET', KEYS[last]) ~= ARGV[2] then return {0, false} end
  redis.call('DEL', KEYS[last])
  last = last - 1
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
local ttl = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[5], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[5], ttl)
local n = tonumber(ARGV[6])
for i = 6, n + 5 do
  redis.call('SADD', KEYS[i], ARGV[5])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
for i = n + 6, last do
  redis.call('SREM', KEYS[i], ARGV[5])
end
if turn then redis.call('DEL', KEYS[4]) end
if ARGV[9] == '1' then log(KEYS[2], KEYS[3], ARGV[5], ARGV[8], ARGV[4]) end
return {1}
`)

// deleteScript deletes a session if it is still what the caller read, and
// takes its id out of its index sets.
//
//	KEYS[1] the session key; KEYS[2] the sessions by last write; KEYS[3..]
//	its index sets
//	ARGV[1] the value read; ARGV[2] the session id
var deleteScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
for i = 3, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[2])
end
return 1
`)

// Update implements Store.Update as an optimistic read-modify-write: fn
// may run more than once, on a fresh read each time, when another node
// wrote the session meanwhile; only the last run's result is stored.
func (r *Redis) Update(ctx context.Context, id string, fn UpdateFunc) (*model.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if !validKey(id) {
		return nil, errInvalidID
	}
	mu := r.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	var held *[]byte // what a lost compare-and-set found in Redis
	// With what Redis holds in hand the retry goes at once: waiting would
	// only let it go stale, and let the other node's next writer (which
	// skips its read) win again.
	return retryCAS(ctx, r, func() bool { return held != nil },
		func() (*model.Session, error) { return r.tryUpdate(ctx, id, fn, &held) })
}

// retryCAS runs try until it does not report a conflict, a bounded number
// of times, with a short random backoff between unless now says to go at
// once (nil: never).
func retryCAS[T any](ctx context.Context, r *Redis, now func() bool, try func() (T, error)) (T, error) {
	var zero T
	for attempt := range casAttempts {
		v, err := try()
		if !errors.Is(err, errConflict) {
			return v, err
		}
		r.conflicts.Add(1)
		if now != nil && now() {
			continue
		}
		wait := time.Duration(rand.Int64N(int64(casBackoff) << min(attempt, 5)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
	}
	return zero, fmt.Errorf("%w (%d attempts)", ErrContended, casAttempts)
}

// tryUpdate makes one compare-and-set. It starts from what the last lost
// one found in Redis (*held), else from what this node last read or wrote
// (recent: one round trip when no other node wrote since), else from a
// read.
func (r *Redis) tryUpdate(ctx context.Context, id string, fn UpdateFunc, held **[]byte) (*model.Session, error) {
	var raw []byte
	var legacy, guessed bool
	switch b, ok := r.recent.get(id); {
	case *held != nil:
		raw, *held = **held, nil
	case ok && r.mayGuess():
		raw, guessed = b, true
	default:
		var err error
		if raw, legacy, err = r.readFrom(ctx, id); err != nil {
			return nil, err
		}
	}
	s := &model.Session{ID: id}
	// A copy, not shared: fn may change byte slices in place, and raw must
	// stay what was read for the comparison.
	if raw != nil {
		if err := s.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("stored session: %w", err)
		}
	}
	version, created, oldLinks := s.Version, s.CreatedAt, links(s)
	// Only a compare-and-set checks a remembered value against Redis: any
	// other outcome (no write, a refusal by fn, too large) is decided again
	// from a read.
	again := func() (*model.Session, error) {
		r.recent.put(id, nil)
		return r.tryUpdate(ctx, id, fn, held)
	}
	if err := fn(s); err != nil {
		if guessed {
			return again()
		}
		if errors.Is(err, ErrNoChange) {
			return decodeStored(id, raw)
		}
		return nil, err
	}
	stamp(s, id, version, created, r.cfg.Now())
	enc := s.AppendBinary(make([]byte, 0, len(raw)+64))
	if err := checkSize(ctx, len(enc)); err != nil {
		if guessed {
			return again()
		}
		return nil, err
	}
	w := casWrite{id: id, old: raw, enc: enc, legacy: legacy, version: s.Version, relay: relayOf(ctx)}
	cur, err := r.cas(ctx, w, oldLinks, links(s))
	switch {
	case errors.Is(err, errNotYourTurn):
		// Waits (held stays nil): what it found will be stale by then.
		r.recent.put(id, nil)
	case errors.Is(err, errConflict) && cur != nil:
		r.recent.put(id, *cur)
		*held = cur
	case err != nil:
		r.recent.put(id, nil)
	default:
		r.recent.put(id, enc)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// decodeStored is what an Update backed out of with ErrNoChange returns:
// the stored session, or a new one when there is none.
func decodeStored(id string, raw []byte) (*model.Session, error) {
	s := &model.Session{ID: id}
	if raw == nil {
		return s, nil
	}
	if err := s.UnmarshalBinaryShared(raw); err != nil {
		return nil, fmt.Errorf("stored session: %w", err)
	}
	return s, nil
}

// casWrite is one compare-and-set: old is what was read (nil: absent),
// from the untagged key when legacy; relay names the write log to mark.
type casWrite struct {
	id       string
	old, enc []byte
	legacy   bool
	version  uint64
	relay    string
}

// cas runs casScript.
// On conflict it returns errConflict (errNotYourTurn when refused for
// another node's turn) and the value Redis holds (nil when it holds none,
// or the untagged key changed: read afresh).
func (r *Redis) cas(ctx context.Context, w casWrite, oldLinks, newLinks []string) (*[]byte, error) {
	keys := make([]string, 0, 5+len(newLinks)+len(oldLinks))
	tag := shardTag(w.id)
	wkey, vkey := r.relayKeys(w.relay, tag)
	keys = append(keys, r.sessionKey(w.id), wkey, vkey, r.turnKey(w.id), r.updatedKey(tag))
	for _, ref := range newLinks {
		keys = append(keys, r.indexKey(ref, tag))
	}
	for _, ref := range oldLinks {
		if !slices.Contains(newLinks, ref) {
			keys = append(keys, r.indexKey(ref, tag))
		}
	}
	mode, legacy, relay := "1", "0", "0"
	if w.old == nil || w.legacy {
		mode = "0"
	}
	if w.legacy {
		keys, legacy = append(keys, r.legacyKey(w.id)), "1"
	}
	if w.relay != "" {
		relay = "1"
	}
	// BinaryString does not copy: enc is fresh and old a reply's own, and
	// neither changes while the command may still be in flight.
	args := []string{mode, rueidis.BinaryString(w.old), rueidis.BinaryString(w.enc),
		strconv.FormatInt(r.cfg.TTL.Milliseconds(), 10), w.id, strconv.Itoa(len(newLinks)),
		legacy, strconv.FormatUint(w.version, 10), relay, r.node}
	reply, err := r.exec(ctx, casScript, keys, args).ToArray()
	if err != nil && unavailable(err) && !notSent(err) {
		return nil, r.settleCAS(w.id, w.enc, err)
	}
	if err != nil {
		return nil, r.fail("writing session", err)
	}
	if len(reply) == 0 {
		return nil, r.fail("writing session", errors.New("the compare-and-set answered nothing"))
	}
	code, _ := reply[0].AsInt64()
	if code == 1 {
		return nil, nil
	}
	err = errConflict
	if code == 2 {
		err = errNotYourTurn
	}
	if len(reply) > 1 {
		if b, rerr := reply[1].AsBytes(); rerr == nil {
			return &b, err
		}
	}
	return nil, err
}

// Delete removes the session and its index entries, or returns
// ErrNotFound when absent or expired.
func (r *Redis) Delete(ctx context.Context, id string) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if !validKey(id) {
		return ErrNotFound
	}
	mu := r.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	_, err := retryCAS(ctx, r, nil, func() (struct{}, error) { return struct{}{}, r.tryDelete(ctx, id) })
	return err
}

func (r *Redis) tryDelete(ctx context.Context, id string) error {
	raw, legacy, err := r.readFrom(ctx, id)
	if err != nil {
		return err
	}
	if raw == nil {
		return ErrNotFound
	}
	keys := []string{r.sessionKey(id), r.updatedKey(shardTag(id))}
	if legacy {
		keys[0] = r.legacyKey(id)
	}
	// An undecodable session is deleted all the same; index sets that
	// still name it are cleaned by Linked.
	if s := new(model.Session); s.UnmarshalBinaryShared(raw) == nil {
		for _, ref := range links(s) {
			keys = append(keys, r.indexKey(ref, shardTag(id)))
			if !r.cluster {
				keys = append(keys, r.legacyIndexKey(ref))
			}
		}
	}
	r.recent.put(id, nil)
	n, err := r.exec(ctx, deleteScript, keys, []string{rueidis.BinaryString(raw), id}).AsInt64()
	if err != nil {
		return r.fail("deleting session", err)
	}
	if n == 0 {
		return errConflict
	}
	return nil
}

// links returns the distinct customer references s is LinkedTo: its
// customer's and its orders' buyers'.
func links(s *model.Session) []string { return s.Links() }

// settleCAS settles a write whose reply did not come in time: the script
// may have run all the same. When the session, read back, holds exactly
// what was written, the write was stored. Otherwise its outcome is
// unknown, never "nothing stored": the read may have run before the
// script (the client has more than one connection), another writer may
// have come between, or the connection broke with the script in flight.
// The read back is a GETRANGE, which reads the same bytes as GET.
func (r *Redis) settleCAS(id string, enc []byte, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout(r.cfg.Timeout))
	defer cancel()
	stored, rerr := bounded(ctx, func() rueidis.RedisResult {
		return r.c.Do(ctx, r.c.B().Getrange().Key(r.sessionKey(id)).Start(0).End(-1).Build())
	}).AsBytes()
	if rerr == nil && bytes.Equal(stored, enc) {
		r.settled.Add(1)
		return nil
	}
	r.failedAt.Store(time.Now().UnixNano())
	return fmt.Errorf("redis: writing session: %w: %w: %w", ErrOutcomeUnknown, ErrUnavailable, err)
}

// notSent reports an error that says the command never left this node:
// no connection could be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// settleTimeout bounds the read that settles a write: longer than the
// write's own (a slow Redis answers it after the write), within reason
// for a visitor's request.
func settleTimeout(timeout time.Duration) time.Duration {
	return min(max(4*timeout, 500*time.Millisecond), 2*time.Second)
}

package cache

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Redis defaults.
const (
	DefaultRedisPrefix  = "sessiontap:"
	DefaultRedisTimeout = 200 * time.Millisecond
	// minHashKey is the shortest HashKey accepted: an HMAC key shorter
	// than this would make customer references guessable from the keys.
	minHashKey = 16
)

// RedisConfig configures NewRedis. Zero fields take the defaults.
type RedisConfig struct {
	// Addresses are host:port addresses of one Redis deployment: a
	// standalone server (one address), or seed nodes of a Redis Cluster
	// (any of its nodes; the client learns the rest and follows the
	// cluster's failovers and slot moves). Either Addresses or Sentinels.
	Addresses []string
	// Cluster says Addresses must be a Redis Cluster's: a server that is
	// not one is refused (several addresses are taken as a cluster's
	// seeds without it too).
	Cluster bool
	// Sentinels are the host:port addresses of Redis Sentinels watching
	// the primary named MasterName: the store asks them for the primary
	// and follows every failover by itself.
	Sentinels []string
	// MasterName is the name the sentinels know the primary by; required
	// with Sentinels.
	MasterName string
	// Username is the ACL user, if the server has ACLs (none).
	Username string
	// Password authenticates the connection (none).
	Password string
	// TLS, when set, makes connections use TLS with this configuration.
	TLS *tls.Config
	// Prefix starts every key the store writes ("sessiontap:"); stores
	// with different prefixes on one server never see each other's data.
	Prefix string
	// TTL is how long a session lives after its last write (24h).
	TTL time.Duration
	// Timeout bounds every Redis command (200ms); connecting may take up
	// to ten times as long.
	Timeout time.Duration
	// HashKey is the HMAC-SHA256 key naming the customer index's keys, at
	// least 16 bytes, the same on every node sharing the prefix. Required:
	// it keeps customer references out of key names.
	HashKey []byte
	// Now stamps CreatedAt and UpdatedAt, for tests (time.Now). Expiry is
	// Redis's own and does not use it.
	Now func() time.Time
}

func (c RedisConfig) withDefaults() (RedisConfig, error) {
	switch {
	case len(c.Addresses) == 0 && len(c.Sentinels) == 0:
		return c, errors.New("redis: no address configured")
	case c.Cluster && len(c.Sentinels) > 0:
		return c, errors.New("redis: a cluster is found by its nodes' addresses, not by sentinels")
	case len(c.Addresses) > 0 && len(c.Sentinels) > 0:
		return c, errors.New("redis: give the server's address or the sentinels, not both")
	case len(c.Sentinels) > 0 && c.MasterName == "":
		return c, errors.New("redis: sentinels need master_name, the name they know the primary by")
	case len(c.Sentinels) == 0 && c.MasterName != "":
		return c, errors.New("redis: master_name needs the sentinels' addresses (sentinel)")
	}
	if c.TTL < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("redis: ttl and timeout must not be negative, got %s and %s", c.TTL, c.Timeout)
	}
	if len(c.HashKey) < minHashKey {
		return c, fmt.Errorf("redis: hash_key must be at least %d bytes, got %d", minHashKey, len(c.HashKey))
	}
	if c.Prefix == "" {
		c.Prefix = DefaultRedisPrefix
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < time.Millisecond {
		return c, fmt.Errorf("redis: ttl must be at least 1ms (PX), got %s", c.TTL)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultRedisTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Redis is a Store in a Redis server shared by several nodes.
//
// Key layout (P is Config.Prefix, T a session's hash tag, "{00}" to
// "{3f}", from its id; see shardTag):
//
//	P + "s:" + T + id      STRING, the session's AppendBinary bytes exactly
//	                       (Version inside), PX = TTL from the last write
//	P + "r:" + T + name + ":w", ":v"
//	                       the write log of the writes whose deliveries are
//	                       still to be queued (see WithRelay, Unrelayed)
//	P + "c:" + T + hex(HMAC-SHA256(HashKey, ref))
//	                       SET of the ids of the sessions of tag T linked
//	                       to customer reference ref (Session.LinkedTo),
//	                       expiring no earlier than the last session added
//	                       to it; Linked reads the 64 sets of ref
//	P + "c:" + hex(...)    the same, untagged, as versions before kept it
//	                       for every tag: read and cleaned (standalone
//	                       servers only) until it expires
//	P + "layout"           when the first node with tagged keys started;
//	                       for one TTL after it, sessions stored untagged
//	                       (P + "s:" + id) by earlier versions are read
//	                       too and moved by their next write
//
// Update is a compare-and-set: it reads the value, runs fn, and a Lua script
// writes only if the value is still byte for byte what was read (so even a
// delete and re-create to the same version is noticed), retrying on
// conflict. The same script marks the write in the write log, so that a
// stored write is never left undelivered by a node that dies before
// queuing it. A striped mutex per process keeps this node's writers of one
// id from racing each other, so conflicts only come from other nodes.
//
// Every key a script writes carries the session's hash tag, so that on a
// Redis Cluster each script runs in one slot; the 64 tags spread the
// sessions over the cluster's primaries. Range walks every primary.
type Redis struct {
	c       rueidis.Client
	cfg     RedisConfig
	seed    maphash.Seed
	stripes [numStripes]stripe // only the mutexes are used
	closed  atomic.Bool

	hits, misses, conflicts atomic.Int64
	// settled counts writes whose reply came late, found stored on reading back.
	settled   atomic.Int64
	closeOnce sync.Once

	secrets secretMap // the last read of each secret (Secret)
	layout  layout
	recent  recent
	// failedAt is when a call last found Redis unavailable (unix ns).
	failedAt atomic.Int64
	// node names this store's process in compare-and-set turns.
	node string
	// cluster: the server is a Redis Cluster (see cluster.go).
	cluster bool
}

// NewRedis connects to Redis and checks it answers a PING within Timeout:
// a configured store that cannot be reached fails here rather than on the
// first request. ctx bounds only this construction.
func NewRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, connectError(cfg, err)
	}
	var node [8]byte
	_, _ = rand.Read(node[:])
	r := &Redis{c: c, cfg: cfg, seed: maphash.MakeSeed(), node: hex.EncodeToString(node[:]),
		cluster: c.Mode() == rueidis.ClientModeCluster}
	if err := r.check(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return r, nil
}

// check makes sure the server answers and is of a kind the store can
// write to, and reads the key layout's start.
func (r *Redis) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if r.cfg.Cluster && !r.cluster {
		return fmt.Errorf("redis: %s is not a Redis Cluster (cluster-enabled no): give it as address", r.cfg.where())
	}
	if r.cluster && strings.ContainsAny(r.cfg.Prefix, "{}") {
		return fmt.Errorf("redis: the prefix %q holds a brace, which on a Redis Cluster would put every key in one slot: leave braces out", r.cfg.Prefix)
	}
	if err := r.c.Do(ctx, r.c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis: no PING answer from %s within %s: %w", r.cfg.where(), r.cfg.Timeout, err)
	}
	if r.cluster {
		// Cluster was refused before the hash tags: no untagged key to read.
		return nil
	}
	if err := checkRole(ctx, r.c, r.cfg); err != nil {
		return err
	}
	return r.layout.start(ctx, r)
}

// NewClient connects another client to the store's server, with its
// settings, for work that must not share the request path's connection:
// the delivery outbox, whose slower commands would hold up visitors'
// requests behind them when Redis hangs. The caller closes it.
func (r *Redis) NewClient() (rueidis.Client, error) { return newClient(r.cfg) }

// Config returns the effective configuration, defaults filled in.
func (r *Redis) Config() RedisConfig { return r.cfg }

// indexKey names ref's index set for the sessions of tag. Hashed, keyed:
// a customer reference is personal data and key names show up in
// monitoring, SCAN and MONITOR.
func (r *Redis) indexKey(ref, tag string) string { return r.cfg.Prefix + "c:" + tag + r.refHash(ref) }

// legacyIndexKey names the untagged set that versions before the tagged
// index kept for ref.
func (r *Redis) legacyIndexKey(ref string) string { return r.cfg.Prefix + "c:" + r.refHash(ref) }

func (r *Redis) refHash(ref string) string {
	m := hmac.New(sha256.New, r.cfg.HashKey)
	m.Write([]byte(ref))
	return hex.EncodeToString(m.Sum(nil))
}

func (r *Redis) stripe(id string) *sync.Mutex {
	return &r.stripes[maphash.String(r.seed, id)&(numStripes-1)].mu
}

// do runs one command under Timeout.
func (r *Redis) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return bounded(ctx, func() rueidis.RedisResult { return r.c.Do(ctx, cmd) })
}

// exec runs a script under Timeout.
func (r *Redis) exec(ctx context.Context, l *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return bounded(ctx, func() rueidis.RedisResult { return l.Exec(ctx, r.c, keys, args) })
}

// bounded returns f's result, or ctx's error as soon as ctx ends. The
// client honours ctx too, but not always at once: with Redis hung
// (SIGSTOP), requests of a busy node waited up to 1.2 s for a 200 ms
// timeout while the client replaced its connection. f goes on in the
// background until the client gives up on it.
func bounded(ctx context.Context, f func() rueidis.RedisResult) rueidis.RedisResult {
	done := make(chan rueidis.RedisResult, 1)
	go func() { done <- f() }()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return rueidis.NewErrorResult(ctx.Err())
	}
}

// fail wraps a Redis error, turning the client's own after-Close error
// into ErrClosed, and marking with ErrUnavailable those that are the
// server's state rather than the command's.
func (r *Redis) fail(what string, err error) error {
	if r.closed.Load() && errors.Is(err, rueidis.ErrClosing) {
		return ErrClosed
	}
	if unavailable(err) {
		r.failedAt.Store(time.Now().UnixNano())
		return fmt.Errorf("redis: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", what, err)
}

// guessQuiet is how long after Redis last failed a call an update stops
// reading first (see recent): while Redis may be hanging, a write sent
// unread would have an unknown outcome, where a read fails cleanly.
const guessQuiet = time.Second

// mayGuess reports whether an update may start from what this node
// remembers, skipping the read.
func (r *Redis) mayGuess() bool {
	return time.Since(time.Unix(0, r.failedAt.Load())) > guessQuiet
}

// unavailable reports an error that says the server cannot serve now: no
// answer in time, no connection, or a reply refusing work for a while.
// Other replies (a script error, a wrong type) and unexpected reply shapes
// are bugs to fix, not outages to ride out.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || rueidis.IsParseErr(err) {
		// Canceled: the caller gave up (a visitor went away), not Redis.
		return false
	}
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return true // network, dial, timeout (context.DeadlineExceeded)
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	switch code {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "OOM", "NOREPLICAS":
		return true
	}
	return false
}

// read returns the stored bytes of a session, nil when absent; the bytes
// are this call's own (a fresh reply) and never change.
func (r *Redis) read(ctx context.Context, id string) ([]byte, error) {
	raw, _, err := r.readFrom(ctx, id)
	return raw, err
}

// readFrom is read, and says whether the session was found under its
// untagged key (see layout).
func (r *Redis) readFrom(ctx context.Context, id string) (raw []byte, legacy bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if r.closed.Load() {
		return nil, false, ErrClosed
	}
	if !validKey(id) {
		r.misses.Add(1)
		return nil, false, nil
	}
	if r.layout.migrating() {
		raw, legacy, err = r.readBoth(ctx, id)
	} else {
		raw, err = r.do(ctx, r.c.B().Get().Key(r.sessionKey(id)).Build()).AsBytes()
		if rueidis.IsRedisNil(err) {
			raw, err = nil, nil
		}
	}
	if err != nil {
		return nil, false, r.fail("reading session", err)
	}
	if raw == nil {
		r.misses.Add(1)
		return nil, false, nil
	}
	r.hits.Add(1)
	return raw, legacy, nil
}

// Get returns the session, or ErrNotFound when absent or expired.
func (r *Redis) Get(ctx context.Context, id string) (*model.Session, error) {
	raw, err := r.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNotFound
	}
	s := new(model.Session)
	// raw is this reply's alone and never changed: the session shares it.
	if err := s.UnmarshalBinaryShared(raw); err != nil {
		return nil, fmt.Errorf("stored session: %w", err)
	}
	return s, nil
}

// Stats implements Store.Stats. Hits and misses count this process's
// lookups (Get, Update, Delete). Entries and Bytes are -1, unknown:
// counting one prefix's keys takes a SCAN of the whole keyspace, and
// DBSIZE and INFO count every prefix on the server. Evictions and Expired
// are Redis's, server-wide (INFO stats), and not reported here.
func (r *Redis) Stats() Stats {
	return Stats{Entries: -1, Bytes: -1, Hits: r.hits.Load(), Misses: r.misses.Load()}
}

// Close closes the client. It is idempotent; afterwards the store's
// methods return ErrClosed.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.c.Close()
	})
	return nil
}

var _ Store = (*Redis)(nil)

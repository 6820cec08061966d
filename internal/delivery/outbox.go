package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// OutboxConfig configures NewOutbox. Zero fields take their defaults.
type OutboxConfig struct {
	// Config is what the in-process engine takes; QueueSize bounds the
	// sessions held per sink across the whole fleet.
	Config
	// Prefix starts every key ("sessiontap:"); the store's prefix, so that
	// two shops on one server never share an outbox.
	Prefix string
	// Lease is how long a node holds an attempt before another node may
	// take it over, as if the holder had died (default: Timeout + 5s). It
	// must exceed Timeout, or a slow attempt would be made twice at once.
	Lease time.Duration
	// Poll is the longest a sink waits before looking for due work other
	// nodes queued or leases that ran out (default 100ms).
	Poll time.Duration
	// CommandTimeout bounds each Redis command of the background work
	// (default 1s).
	CommandTimeout time.Duration
	// EnqueueTimeout bounds Enqueue's commands, which run on the request
	// path (default 50ms; the glue passes the Redis store's timeout).
	EnqueueTimeout time.Duration
	// OnError, when set, is called with the operation (enqueue, claim,
	// complete, cancel, state_get, state_put) of every Redis call that
	// failed, for metrics; it must be cheap.
	OnError func(op string)
	// StateTTL is how long a session's delivery state (what the sink last
	// got, for ordering and skipping) outlives its last update (default 24h).
	StateTTL time.Duration
	// QueueBytes bounds, per sink, the bytes of the sessions held (each
	// held update keeps the session's encoding), fleet-wide: past it,
	// updates for further sessions are dropped, as past QueueSize. The
	// queue has no TTL: this keeps it from filling Redis's memory
	// (default 64 MiB).
	QueueBytes int64
}

// The outbox's defaults.
const (
	DefaultLeaseMargin    = 5 * time.Second
	DefaultPoll           = 100 * time.Millisecond
	DefaultCommandTimeout = time.Second
	DefaultEnqueueTimeout = 50 * time.Millisecond
	DefaultStateTTL       = 24 * time.Hour
	DefaultQueueBytes     = 64 << 20
)

func (c OutboxConfig) withDefaults() (OutboxConfig, error) {
	c.Config = c.Config.withDefaults()
	if c.Prefix == "" {
		c.Prefix = "sessiontap:"
	}
	if c.Lease == 0 {
		c.Lease = c.Timeout + DefaultLeaseMargin
	}
	if c.Lease <= c.Timeout {
		return c, fmt.Errorf("outbox: lease %s must be longer than the attempt timeout %s", c.Lease, c.Timeout)
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.EnqueueTimeout <= 0 {
		c.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if c.StateTTL <= 0 {
		c.StateTTL = DefaultStateTTL
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	return c, nil
}

// NewOutbox returns an engine whose queues are in Redis, shared by every
// node that uses the same server and prefix: any node delivers what any
// node queued, and what a node held when it died is taken over by another
// once its lease runs out (see outbox_lua.go for the keys and scripts).
// The client is the caller's: Close leaves it open.
func NewOutbox(c rueidis.Client, cfg OutboxConfig, log *zap.Logger) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	b := &redisBackend{c: c, cfg: cfg}
	e := newEngine(cfg, b, log)
	b.errs = e.errs
	return e, nil
}

// redisBackend keeps the queues in Redis.
type redisBackend struct {
	c    rueidis.Client
	cfg  OutboxConfig
	errs *errorLog
	salt atomic.Pointer[[]byte] // keys client networks; see clientKey
}

func (b *redisBackend) newQueue(name string) queue {
	base := b.cfg.Prefix + "o:" + name
	if b.c.Mode() == rueidis.ClientModeCluster {
		return newShardedQueue(b, base, clusterShards)
	}
	return newRedisQueue(b, base)
}

func (b *redisBackend) state(name string) State {
	return redisState{b: b, prefix: b.cfg.Prefix + "o:" + name + ":k:"}
}

func (*redisBackend) durable() bool { return true }

// saltScript returns the fleet's client-key salt, setting it first if no
// node has: every node must key a client alike for its share to be
// counted fleet-wide.
//
//	KEYS  the salt's key
//	ARGV  a random salt, kept if none is set
var saltScript = rueidis.NewLuaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)

// clientKey is what Redis keeps for a client's network: an HMAC-SHA256
// under the fleet's salt, cut to 64 bits, so that Redis holds no address
// (and an IPv4 address cannot be found by trying all 2^32 without the
// salt). "" when there is no client, or no salt yet (Redis did not
// answer): the update is then held to no share rather than to one that
// other nodes would count under another key.
func (b *redisBackend) clientKey(ctx context.Context, client string) string {
	if client == "" {
		return ""
	}
	salt := b.salt.Load()
	if salt == nil {
		var r [32]byte
		_, _ = rand.Read(r[:])
		s, err := b.exec(ctx, saltScript, []string{b.cfg.Prefix + "o:client-salt"}, []string{hex.EncodeToString(r[:])}).AsBytes()
		if err != nil {
			b.errs.record("enqueue", err)
			return ""
		}
		salt = &s
		b.salt.Store(salt)
	}
	m := hmac.New(sha256.New, *salt)
	m.Write([]byte(client))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// exec runs a script under CommandTimeout (or ctx's earlier deadline).
func (b *redisBackend) exec(ctx context.Context, l *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	return l.Exec(ctx, b.c, keys, args)
}

// do runs a command under CommandTimeout (or ctx's earlier deadline).
func (b *redisBackend) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CommandTimeout)
	defer cancel()
	return b.c.Do(ctx, cmd)
}

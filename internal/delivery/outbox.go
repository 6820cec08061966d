package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// OutboxConfig configures NewOutbox. Zero fields take their defaults.
type OutboxConfig struct {
	// Config is what the in-process engine takes too; QueueSize bounds the
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
	// path (default 50ms, the Redis store's own default timeout).
	EnqueueTimeout time.Duration
	// OnError, when set, is called with the operation (enqueue, claim,
	// complete, cancel, state_get, state_put) of every Redis call that
	// failed, for metrics; it must be cheap.
	OnError func(op string)
	// StateTTL is how long a session's delivery state (what the sink last
	// got, for ordering and skipping) outlives its last update (default 24h).
	StateTTL time.Duration
}

// The outbox's defaults.
const (
	DefaultLeaseMargin    = 5 * time.Second
	DefaultPoll           = 100 * time.Millisecond
	DefaultCommandTimeout = time.Second
	DefaultEnqueueTimeout = 50 * time.Millisecond
	DefaultStateTTL       = 24 * time.Hour
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
	return c, nil
}

// Outbox is a Deliverer whose queue lives in Redis, shared by every node
// that uses the same server and prefix: any node delivers what any node
// queued, and what a node held when it died is taken over by another once
// its lease runs out. Per sink and session, one attempt at a time is in
// flight fleet-wide, versions go out in increasing order and a waiting
// update is replaced by a newer one, and a client holds at most its
// ClientShare of the queue, fleet-wide, as in Engine; see outbox_lua.go
// for the keys and scripts.
//
// Delivery is at least once: a node that dies after the upstream accepted
// an update but before it recorded so has the update delivered again by
// the node that takes over, with the same event id (EventID), so an
// upstream that honours idempotency keys drops the duplicate.
//
// Close does not drain: what is queued stays in Redis for the other nodes
// (or this one's next start); attempts in flight get until Close's ctx to
// finish, then their leases are handed back at once, so the work moves on
// without waiting for the lease to run out.
type Outbox struct {
	cfg  OutboxConfig
	c    rueidis.Client
	log  *zap.Logger
	node string // this process's part of lease tokens

	mu     sync.Mutex // serialises AddSink and Close
	closed atomic.Bool
	sinks  atomic.Pointer[[]*outboxSink]

	onFeedback atomic.Pointer[func(sink string, u *Update, fb Feedback)]
	onResult   atomic.Pointer[func(sink, outcome string, latency time.Duration)]
	onAttempt  atomic.Pointer[func(sink, sessionID string, version uint64, outcome string)]
	errs       *errorLog
	salt       atomic.Pointer[[]byte] // keys client networks; see clientKey

	closeOnce sync.Once
	closeErr  error
}

// NewOutbox returns an outbox on client c, without sinks. The client is
// the caller's: Close leaves it open.
func NewOutbox(c rueidis.Client, cfg OutboxConfig, log *zap.Logger) (*Outbox, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	o := &Outbox{cfg: cfg, c: c, log: log, node: hex.EncodeToString(b[:])}
	o.errs = newErrorLog(log, cfg.LogInterval, cfg.OnError)
	return o, nil
}

// AddSink adds a sink and starts its poller. The sink's name (opt.Name,
// else s.Name()) names its queue in Redis: nodes that give a sink the same
// name share its queue, so two different sinks must not share one name.
// A Stateful sink keeps its state in Redis from now on.
func (o *Outbox) AddSink(s Sink, opt SinkOptions) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed.Load() {
		o.log.Error("upstream sink added after close, ignored", zap.String("sink", opt.Name), zap.String("kind", s.Name()))
		return
	}
	q := newOutboxSink(o, s, opt)
	if st, ok := s.(Stateful); ok {
		st.UseState(redisState{o: o, prefix: q.keys.base + ":k:"})
	}
	var next []*outboxSink
	if old := o.sinks.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, q)
	o.sinks.Store(&next)
	q.start()
}

func (o *Outbox) queues() []*outboxSink {
	if p := o.sinks.Load(); p != nil {
		return *p
	}
	return nil
}

// Enqueue implements Deliverer. It waits for Redis (up to EnqueueTimeout),
// never for an upstream: the update is in Redis when it returns, so a node
// dying right after loses nothing. When Redis does not answer in time the
// update is counted dropped and the error logged once per interval.
func (o *Outbox) Enqueue(u *Update) { _ = o.Queue(u) }

// Queue is Enqueue, and says whether every sink that wants u has it
// decided in Redis (queued, coalesced, or dropped by its bounds): nil, or
// the first Redis error, after which the caller should queue u again.
func (o *Outbox) Queue(u *Update) error {
	if u == nil {
		return nil
	}
	// Most page views change no data: when no sink wants the update, it
	// costs neither an encoding nor a round trip.
	var buf [8]*outboxSink
	want := buf[:0]
	for _, q := range o.queues() {
		if q.wants(u) {
			want = append(want, q)
		}
	}
	if len(want) == 0 {
		return nil
	}
	payload := u.Session.AppendBinary(nil)
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.EnqueueTimeout)
	defer cancel()
	client := o.clientKey(ctx, u.Client)
	if len(want) == 1 {
		return want[0].enqueue(ctx, u, payload, client)
	}
	// One round trip for all sinks: rueidis pipelines concurrent commands.
	errs := make([]error, len(want))
	var wg sync.WaitGroup
	for i, q := range want {
		wg.Go(func() { errs[i] = q.enqueue(ctx, u, payload, client) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Cancel implements Deliverer: for GDPR deletes, fleet-wide.
func (o *Outbox) Cancel(sessionID string) {
	for _, q := range o.queues() {
		q.cancel(sessionID)
	}
}

// Close implements Deliverer; see Outbox for what it does not do.
func (o *Outbox) Close(ctx context.Context) error {
	o.closeOnce.Do(func() { o.closeErr = o.shutdown(ctx) })
	return o.closeErr
}

func (o *Outbox) shutdown(ctx context.Context) error {
	o.mu.Lock()
	o.closed.Store(true)
	o.mu.Unlock()
	qs := o.queues()
	for _, q := range qs {
		q.stopClaiming()
	}
	var errs []error
	for _, q := range qs {
		if err := q.wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, q := range qs {
		q.summary.flush() // the last interval's give-ups and drops, now
	}
	o.errs.flush()
	return errors.Join(errs...)
}

// Stats implements Deliverer. Pending is the fleet's (read from Redis; -1
// when Redis does not answer), InFlight and the counters this node's.
func (o *Outbox) Stats() []SinkStats {
	qs := o.queues()
	out := make([]SinkStats, len(qs))
	for i, q := range qs {
		out[i] = q.stats()
	}
	return out
}

// OnFeedback implements Deliverer; as Engine.OnFeedback.
func (o *Outbox) OnFeedback(f func(sink string, u *Update, fb Feedback)) { o.onFeedback.Store(&f) }

// OnResult implements Deliverer; as Engine.OnResult.
func (o *Outbox) OnResult(f func(sink, outcome string, latency time.Duration)) { o.onResult.Store(&f) }

// OnAttempt implements Deliverer.
func (o *Outbox) OnAttempt(f func(sink, sessionID string, version uint64, outcome string)) {
	o.onAttempt.Store(&f)
}

// exec runs a script under CommandTimeout (or ctx's earlier deadline).
func (o *Outbox) exec(ctx context.Context, l *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.CommandTimeout)
	defer cancel()
	return l.Exec(ctx, o.c, keys, args)
}

// do runs a command under CommandTimeout.
func (o *Outbox) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.CommandTimeout)
	defer cancel()
	return o.c.Do(ctx, cmd)
}

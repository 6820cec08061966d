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

	"go.uber.org/zap"
)

// Engine delivers updates to sinks in the background: per sink and
// session, one delivery at a time, in version order, coalesced to the
// newest update (which carries what the updates it replaced changed, and
// their orders: see Update.NewOrders); across sessions, at most
// Config.Concurrency deliveries per sink, sessions served first come,
// first served. Its queues are in this process's memory (New) or in Redis
// (NewOutbox), with the same rules (see queue).
//
// Overflow: a sink holds undelivered updates of at most Config.QueueSize
// sessions, and of each at most two (the one in flight or waiting to be
// retried, and the newest waiting behind it). When QueueSize sessions are
// held, an update for a session not held is dropped (counted Dropped); a
// held session's newer update replaces its waiting one (Superseded). For
// ordering and for skipping unchanged carts, a sink also remembers the
// last version and a fingerprint of idle sessions: in memory up to
// 4×QueueSize of them, least recently used forgotten first; in Redis for
// StateTTL. Memory is bounded however long an upstream is down.
//
// Fairness: a session is charged to the client of the update that made it
// held (Update.Client), until it holds nothing undelivered again. A client
// holding ClientShare(QueueSize) sessions has its updates for further
// sessions dropped (counted Dropped), so that one client cannot crowd out
// the others' updates; updates of sessions it already holds replace their
// waiting ones as usual. Updates with no client are held to no share.
//
// Retries: an attempt that fails with a retryable error gives its
// concurrency slot back while the session waits for its retry, due after
// the backoff. When a newer update arrived during the wait, the newer one
// is delivered instead.
//
// Close: the in-process engine delivers what is queued until Close's ctx
// is done, then cancels the attempts in flight. The Redis one does not
// drain: what is queued stays in Redis for the other nodes (or this one's
// next start); attempts in flight get until ctx is done, then their
// leases are handed back at once, so the work moves on without waiting
// for the lease to run out.
//
// Delivery through Redis is at least once: a node that dies after the
// upstream accepted an update but before it recorded so has the update
// delivered again by the node that takes over, with the same event id
// (EventID), so an upstream that honours idempotency keys drops the
// duplicate.
//
// Sinks must return from Deliver when its context is done: Close waits
// for the attempts it cancels.
type Engine struct {
	cfg  engineConfig
	log  *zap.Logger
	back backend
	node string // this process's part of lease tokens

	mu     sync.Mutex // serialises AddSink and Close
	closed atomic.Bool
	sinks  atomic.Pointer[[]*runner]

	onFeedback atomic.Pointer[func(sink string, u *Update, fb Feedback)]
	onResult   atomic.Pointer[func(sink, outcome string, latency time.Duration)]
	onAttempt  atomic.Pointer[func(sink, sessionID string, version uint64, outcome string)]
	errs       *errorLog

	closeOnce sync.Once
	closeErr  error

	// Replays (replay.go).
	replaySrc  ReplaySource
	replayOnce sync.Once
	replayStop context.CancelFunc
	replayDone sync.WaitGroup
	replayWake chan struct{}
}

// engineConfig is what the engine runs with, defaults filled in; the
// in-process engine's Redis-only fields are unused.
type engineConfig = OutboxConfig

// backend makes the engine's queues: in memory or in Redis.
type backend interface {
	newQueue(name string) queue
	// state is a sink's State, or nil to leave the sink its own.
	state(name string) State
	// clientKey is what the queue charges a client's network to.
	clientKey(ctx context.Context, client string) string
	// durable: what is queued outlives the process (Close hands back
	// rather than drains).
	durable() bool
	// replays keeps the replays' progress.
	replays() replayStore
}

// New returns an engine whose queues are in this process's memory,
// without sinks.
func New(cfg Config, log *zap.Logger) *Engine {
	c, err := OutboxConfig{Config: cfg}.withDefaults()
	if err != nil { // a lease is not set here: it cannot be too short
		panic(err)
	}
	return newEngine(c, memBackend{cfg: c, rep: &memReplays{}}, log)
}

func newEngine(cfg engineConfig, b backend, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	var tok [6]byte
	_, _ = rand.Read(tok[:])
	e := &Engine{cfg: cfg, log: log, back: b, node: hex.EncodeToString(tok[:]), replayWake: make(chan struct{}, 1)}
	e.errs = newErrorLog(log, cfg.LogInterval, cfg.OnError)
	return e
}

// memBackend keeps the queues in memory.
type memBackend struct {
	cfg engineConfig
	rep *memReplays
}

func (b memBackend) newQueue(string) queue                      { return newMemQueue(b.cfg) }
func (memBackend) state(string) State                           { return nil }
func (memBackend) clientKey(_ context.Context, c string) string { return c }
func (memBackend) durable() bool                                { return false }
func (b memBackend) replays() replayStore                       { return b.rep }

// AddSink adds a sink and starts its poller. Call it before the first
// Enqueue: earlier updates do not reach the sink. After Close it does
// nothing. With Redis, the sink's name (opt.Name, else s.Name()) names its
// queue: nodes that give a sink the same name share its queue, so two
// different sinks must not share one name; a Stateful sink keeps its
// state in Redis from now on.
func (e *Engine) AddSink(s Sink, opt SinkOptions) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		e.log.Error("sink added after close, ignored", zap.String("sink", opt.Name), zap.String("kind", s.Name()))
		return
	}
	if opt.On != "" && opt.On != OnChange && opt.On != OnAction {
		e.log.Warn("unknown sink option on, using change",
			zap.String("sink", opt.Name), zap.String("kind", s.Name()), zap.String("on", opt.On))
	}
	name := opt.Name
	if name == "" {
		name = s.Name()
	}
	if st, ok := s.(Stateful); ok {
		if state := e.back.state(name); state != nil {
			st.UseState(state)
		}
	}
	r := newRunner(e, e.back.newQueue(name), s, name, opt)
	var next []*runner
	if old := e.sinks.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, r)
	e.sinks.Store(&next)
	r.start()
}

func (e *Engine) runners() []*runner {
	if p := e.sinks.Load(); p != nil {
		return *p
	}
	return nil
}

// Enqueue queues u for every sink. It never waits for an upstream, and
// with Redis for at most EnqueueTimeout: the update is in Redis when it
// returns, so a node dying right after loses nothing. What it cannot
// queue is counted Dropped (and, with Redis, the error logged once per
// interval). u must not be changed afterwards.
func (e *Engine) Enqueue(u *Update) { _ = e.Queue(u) }

// Queue is Enqueue, and says whether every sink that wants u has it
// decided (queued, coalesced, or dropped by its bounds): nil, or the
// first error of the queue (Redis), after which the caller should queue u
// again.
func (e *Engine) Queue(u *Update) error {
	if u == nil {
		return nil
	}
	// Most page views change no data: when no sink wants the update, it
	// costs nothing more.
	var buf [8]*runner
	want := buf[:0]
	for _, r := range e.runners() {
		if r.wants(u) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		return nil
	}
	ctx := context.Background()
	if e.back.durable() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.EnqueueTimeout)
		defer cancel()
	}
	client := e.back.clientKey(ctx, u.Client)
	if len(want) == 1 || !e.back.durable() {
		var first error
		for _, r := range want {
			if err := r.enqueue(ctx, u, client); first == nil {
				first = err
			}
		}
		return first
	}
	// One round trip for all sinks: the client pipelines concurrent commands.
	errs := make([]error, len(want))
	var wg sync.WaitGroup
	for i, r := range want {
		wg.Go(func() { errs[i] = r.enqueue(ctx, u, client) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Cancel drops the session's updates that are not in flight, for every
// sink, including those waiting to be retried, and forgets what the sinks
// remember of it; an attempt in flight is not retried. For GDPR deletes;
// with Redis, fleet-wide.
func (e *Engine) Cancel(sessionID string) {
	for _, r := range e.runners() {
		r.cancel(sessionID)
	}
}

// Close stops taking updates (later ones are counted Dropped) and ends the
// work (see Engine). It returns an error when something was left
// undelivered in memory or attempts were cut short. Later calls return the
// first call's result.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() { e.closeErr = e.shutdown(ctx) })
	return e.closeErr
}

func (e *Engine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed.Store(true)
	e.mu.Unlock()
	e.replayOnce.Do(func() {}) // none starts now
	if e.replayStop != nil {
		e.replayStop()
		e.replayDone.Wait()
	}
	rs := e.runners()
	if !e.back.durable() {
		for _, r := range rs {
			r.drained(ctx)
		}
	}
	for _, r := range rs {
		r.stopClaiming()
	}
	var errs []error
	for _, r := range rs {
		if err := r.wait(ctx); err != nil && e.back.durable() {
			errs = append(errs, err)
		}
	}
	for _, r := range rs {
		r.summary.flush() // the last interval's give-ups and drops, now
		if err := e.stopped(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	e.errs.flush()
	return errors.Join(errs...)
}

// stopped logs what a sink leaves; in memory, what is left is lost.
func (e *Engine) stopped(ctx context.Context, r *runner) error {
	st := r.stats()
	log := e.log.Info
	if st.Pending > 0 && !e.back.durable() {
		log = e.log.Warn
	}
	log("sink stopped", zap.String("sink", r.name), zap.Int("undelivered_sessions", st.Pending),
		zap.Uint64("delivered", st.Delivered), zap.Uint64("failed", st.Failed), zap.Uint64("dropped", st.Dropped))
	if st.Pending > 0 && !e.back.durable() {
		return fmt.Errorf("sink %s: updates of %d sessions left undelivered: %w", r.name, st.Pending, context.Cause(ctx))
	}
	return nil
}

// Stats returns each sink's stats, in the order the sinks were added.
// With Redis, Pending is the fleet's (-1 when Redis does not answer),
// InFlight and the counters this node's.
func (e *Engine) Stats() []SinkStats {
	rs := e.runners()
	out := make([]SinkStats, len(rs))
	for i, r := range rs {
		out[i] = r.stats()
	}
	return out
}

// Status implements Deliverer: each sink's view of the session, in the
// order the sinks were added; with Redis, what any node did.
func (e *Engine) Status(ctx context.Context, sessionID string) ([]DeliveryStatus, error) {
	rs := e.runners()
	out := make([]DeliveryStatus, len(rs))
	for i, r := range rs {
		ctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
		st, err := r.q.status(ctx, sessionID)
		cancel()
		if err != nil {
			return nil, err
		}
		st.Sink, st.Requires = r.name, r.requires
		out[i] = st
	}
	return out, nil
}

// OnFeedback sets f to be called after each successful delivery whose
// feedback is not zero, before the session's next delivery to that sink
// starts: per sink and session, feedback comes in version order. f must
// not block long: it holds a concurrency slot.
func (e *Engine) OnFeedback(f func(sink string, u *Update, fb Feedback)) { e.onFeedback.Store(&f) }

// OnAttempt implements Deliverer: f is called after each attempt, with no
// lock held.
func (e *Engine) OnAttempt(f func(sink, sessionID string, version uint64, outcome string)) {
	e.onAttempt.Store(&f)
}

// OnResult sets f to be called once per outcome (see the Outcome
// constants), with the attempt's latency for delivered, retried and failed
// and zero otherwise. It must be cheap (a metric update).
func (e *Engine) OnResult(f func(sink string, outcome string, latency time.Duration)) {
	e.onResult.Store(&f)
}

// runner is the sink named name, nil when none is.
func (e *Engine) runner(name string) *runner {
	for _, r := range e.runners() {
		if r.name == name {
			return r
		}
	}
	return nil
}

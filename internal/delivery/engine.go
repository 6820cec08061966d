package delivery

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config tunes the delivery engine. Zero fields take their defaults.
type Config struct {
	// QueueSize bounds, per sink, the sessions with an undelivered update:
	// waiting, waiting to be retried, or in flight (default 10000).
	QueueSize int
	// Concurrency bounds the deliveries in flight per sink, across
	// sessions (default 8).
	Concurrency int
	// MaxAttempts bounds the attempts per update, the first included
	// (default 8).
	MaxAttempts int
	// BaseBackoff is the cap of the first retry's delay (default 200ms);
	// the cap doubles with every consecutive failure of a session and the
	// delay is drawn uniformly below it (full jitter).
	BaseBackoff time.Duration
	// MaxBackoff caps retry delays, an upstream's Retry-After included
	// (default 30s).
	MaxBackoff time.Duration
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// LogInterval is how often each sink logs one line of its give-ups
	// and drops (default 10s).
	LogInterval time.Duration
}

// The defaults of Config.
const (
	DefaultQueueSize   = 10000
	DefaultConcurrency = 8
	DefaultMaxAttempts = 8
	DefaultBaseBackoff = 200 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultTimeout     = 10 * time.Second
)

// historyFactor is how many idle sessions, per queued one, a sink keeps
// the last delivered version and fingerprint of.
const historyFactor = 4

// clientShareDivisor sets ClientShare: one client holds at most a 16th of
// a sink's queue, so that it takes sixteen clients, not one, to fill it.
const clientShareDivisor = 16

// ClientShare is the most sessions of one client (Update.Client) that a
// sink of a queue of queueSize holds, in Engine and Outbox alike:
// max(1, queueSize/16).
func ClientShare(queueSize int) int { return max(1, queueSize/clientShareDivisor) }

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.QueueSize, DefaultQueueSize)
	def(&c.Concurrency, DefaultConcurrency)
	def(&c.MaxAttempts, DefaultMaxAttempts)
	defDur(&c.BaseBackoff, DefaultBaseBackoff)
	defDur(&c.MaxBackoff, DefaultMaxBackoff)
	defDur(&c.Timeout, DefaultTimeout)
	defDur(&c.LogInterval, DefaultLogInterval)
	c.BaseBackoff = min(c.BaseBackoff, c.MaxBackoff)
	return c
}

// When a sink wants updates: SinkOptions.On.
const (
	// OnChange delivers updates that changed the cart, customer or orders,
	// and skips those whose cart, customer and orders equal what the sink
	// last delivered for the session.
	OnChange = "change"
	// OnAction delivers every update, page views included.
	OnAction = "action"
)

// SinkOptions configures one sink.
type SinkOptions struct {
	// On is OnChange (the default, for "") or OnAction.
	On string
	// Name labels the sink in stats, metrics, logs and feedback; the
	// sink's own Name when empty. Two sinks of one engine should not
	// share one.
	Name string
}

// The outcomes OnResult reports, one per update (retried: per attempt).
const (
	OutcomeDelivered  = "delivered"  // the sink accepted the update
	OutcomeRetried    = "retried"    // an attempt failed and will be retried
	OutcomeSuperseded = "superseded" // a newer update of the session replaced it
	OutcomeDropped    = "dropped"    // queue full, engine closed, or Cancel
	OutcomeFailed     = "failed"     // refused, or out of attempts
	OutcomeSkipped    = "skipped"    // nothing the sink wants changed
)

// SinkStats are one sink's gauges and counters.
type SinkStats struct {
	Name string
	// Pending counts the sessions with an undelivered update, those in
	// flight included; it never exceeds Config.QueueSize.
	Pending int
	// InFlight counts the attempts running now.
	InFlight int
	// The counters, by outcome (see the Outcome constants).
	Delivered, Retried, Superseded, Dropped, Failed, Skipped uint64
}

// Engine delivers updates to sinks in the background: per sink and
// session, one delivery at a time, in version order, coalesced to the
// newest update; across sessions, at most Config.Concurrency deliveries per
// sink, sessions served first come, first served.
//
// Overflow: a sink holds undelivered updates of at most Config.QueueSize
// sessions, and of each at most two (the one in flight or waiting to be
// retried, and the newest waiting behind it). When QueueSize sessions
// are held, an update for a session not held is dropped (counted Dropped);
// a held session's newer update replaces its waiting one (Superseded). For
// ordering and for skipping unchanged carts, a sink also remembers the last
// version and a 64-bit fingerprint of up to 4×QueueSize idle sessions,
// forgetting the least recently delivered first. Memory is bounded however
// long an upstream is down.
//
// Fairness: a session is charged to the client of the update that made it
// held (Update.Client), until it holds nothing undelivered again. A client
// holding ClientShare(QueueSize) sessions has its updates for further
// sessions dropped (counted Dropped), so that one client cannot crowd out
// the others' updates; updates of sessions it already holds replace their
// waiting ones as usual. Updates with no client are held to no share.
//
// Retries: an attempt that fails with a retryable error gives its
// concurrency slot back while the session waits for its retry; a timer puts
// the session back at the end of the ready queue. So a session backing off
// holds no slot, and never more than one while in flight. When a newer
// update arrived during the wait, the newer one is delivered instead.
//
// Sinks must return from Deliver when its context is done: Close waits
// for the attempts it cancels.
type Engine struct {
	cfg  Config
	log  *zap.Logger
	seed maphash.Seed

	mu     sync.Mutex // serialises AddSink and Close
	closed bool
	sinks  atomic.Pointer[[]*sinkQueue]

	onFeedback atomic.Pointer[func(sink string, u *Update, fb Feedback)]
	onResult   atomic.Pointer[func(sink, outcome string, latency time.Duration)]
	onAttempt  atomic.Pointer[func(sink, sessionID string, version uint64, outcome string)]

	closeOnce sync.Once
	closeErr  error
}

// New returns an engine without sinks. It starts no goroutines: AddSink
// starts Config.Concurrency workers for its sink.
func New(cfg Config, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	return &Engine{cfg: cfg.withDefaults(), log: log, seed: maphash.MakeSeed()}
}

// AddSink adds a sink and starts its workers. Call it before the first
// Enqueue: earlier updates do not reach the sink. After Close it does
// nothing.
func (e *Engine) AddSink(s Sink, opt SinkOptions) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.log.Error("upstream sink added after close, ignored", zap.String("sink", opt.Name), zap.String("kind", s.Name()))
		return
	}
	if opt.On != "" && opt.On != OnChange && opt.On != OnAction {
		e.log.Warn("unknown sink option on, using change",
			zap.String("sink", opt.Name), zap.String("kind", s.Name()), zap.String("on", opt.On))
	}
	q := newSinkQueue(e, s, opt)
	var next []*sinkQueue
	if old := e.sinks.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, q)
	e.sinks.Store(&next)
	q.start()
}

func (e *Engine) queues() []*sinkQueue {
	if p := e.sinks.Load(); p != nil {
		return *p
	}
	return nil
}

// Enqueue queues u for every sink. It never blocks on a sink and never
// fails visibly: what it cannot queue is counted. u must not be changed
// afterwards.
func (e *Engine) Enqueue(u *Update) {
	if u == nil {
		return
	}
	for _, q := range e.queues() {
		q.enqueue(u)
	}
}

// Cancel drops the session's updates that are not in flight, for every
// sink, including those waiting to be retried, and forgets what the sinks
// remember of it; an attempt in flight is not retried. For GDPR deletes.
func (e *Engine) Cancel(sessionID string) {
	for _, q := range e.queues() {
		q.cancelSession(sessionID)
	}
}

// Close stops taking updates (later ones are counted Dropped), delivers
// the pending ones until ctx is done, then cancels the attempts in flight,
// stops the workers and logs, per sink, how many sessions' updates were left
// undelivered. It returns an error when some were. Later calls return the
// first call's result.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() { e.closeErr = e.shutdown(ctx) })
	return e.closeErr
}

func (e *Engine) shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	qs := e.queues()
	for _, q := range qs {
		q.close()
	}
	for _, q := range qs {
		select {
		case <-q.drained:
		case <-ctx.Done():
		}
	}
	left := 0
	for _, q := range qs {
		left += q.stop()
	}
	if left > 0 {
		return fmt.Errorf("upstream: updates of %d sessions left undelivered: %w", left, context.Cause(ctx))
	}
	return nil
}

// Stats returns each sink's stats, in the order the sinks were added.
func (e *Engine) Stats() []SinkStats {
	qs := e.queues()
	out := make([]SinkStats, len(qs))
	for i, q := range qs {
		out[i] = q.stats()
	}
	return out
}

// OnFeedback sets f to be called, from the worker goroutine, after each
// successful delivery whose feedback is not zero, before the session's
// next delivery to that sink starts: per sink and session, feedback comes
// in version order. f must not block long: it holds a concurrency slot.
func (e *Engine) OnFeedback(f func(sink string, u *Update, fb Feedback)) {
	e.onFeedback.Store(&f)
}

// OnAttempt implements Deliverer: f is called from the worker after each
// attempt, with no lock held.
func (e *Engine) OnAttempt(f func(sink, sessionID string, version uint64, outcome string)) {
	e.onAttempt.Store(&f)
}

// OnResult sets f to be called once per outcome (see the Outcome
// constants), with the attempt's latency for delivered, retried and failed
// and zero otherwise. It is called from workers and from Enqueue and Cancel
// callers, never with a lock held; it must be cheap (a metric update).
func (e *Engine) OnResult(f func(sink string, outcome string, latency time.Duration)) {
	e.onResult.Store(&f)
}

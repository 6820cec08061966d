package delivery

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// runner is one sink's share of the engine: a poller that leases due
// sessions from the sink's queue while the engine has free slots for the
// sink, and the attempts it starts.
type runner struct {
	e        *Engine
	q        queue
	sink     Sink
	name     string
	onChange bool
	requires []string // consent purposes (SinkOptions.Requires)

	ctx         context.Context // cancelled when attempts must end (Close's deadline)
	endAttempts context.CancelFunc
	stop        chan struct{} // closed: no more claims
	wake        chan struct{} // a local enqueue or a freed slot
	poller      sync.WaitGroup
	tries       sync.WaitGroup
	claims      atomic.Uint64 // numbers lease tokens

	inFlight atomic.Int32
	counts   tally
	summary  *summary
}

func newRunner(e *Engine, q queue, s Sink, name string, opt SinkOptions) *runner {
	r := &runner{e: e, q: q, sink: s, name: name, onChange: opt.On != OnAction, requires: opt.Requires,
		stop: make(chan struct{}), wake: make(chan struct{}, 1)}
	r.ctx, r.endAttempts = context.WithCancel(context.Background())
	r.summary = newSummary(name, e.cfg.QueueSize, e.log, e.cfg.LogInterval)
	return r
}

func (r *runner) start() {
	r.poller.Add(1)
	go r.poll()
}

// signal wakes the poller: work may be due.
func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// result counts n outcomes o and reports them.
func (r *runner) result(o outcome, n int, latency time.Duration) {
	r.counts.add(o, n)
	report(r.e.onResult.Load(), r.name, o, n, latency)
}

// wants reports whether the sink takes u, counting it when not.
func (r *runner) wants(u *Update) bool {
	switch {
	case !u.Session.Consent.Allows(r.requires):
		if u.Changed&model.ChangeConsent != 0 {
			r.cancel(u.Session.ID) // withdrawn: what waits goes too
		}
		r.result(outNoConsent, 1, 0)
	case r.onChange && !u.Changed.Data():
		r.result(outSkipped, 1, 0)
	case r.e.closed.Load():
		r.result(outDropped, 1, 0)
	default:
		return true
	}
	return false
}

// enqueue queues u, which the sink wants, for client's key.
func (r *runner) enqueue(ctx context.Context, u *Update, client string) error {
	res, err := r.q.enqueue(ctx, u, client)
	switch {
	case err != nil:
		r.e.errs.record("enqueue", err)
		r.result(outDropped, 1, 0)
		return err
	case res == admitDropped:
		r.summary.drop(1)
		r.result(outDropped, 1, 0)
	case res == admitSuperseded, res == admitStale:
		r.result(outSuperseded, 1, 0)
	default:
		r.signal()
	}
	return nil
}

func (r *runner) cancel(id string) {
	n, err := r.q.cancel(context.Background(), id)
	if err != nil {
		r.e.errs.record("cancel", err)
		return
	}
	r.result(outDropped, n, 0)
}

// poll leases due sessions while there are free slots, and sleeps until
// an enqueue, a freed slot, the next due time or Poll.
func (r *runner) poll() {
	defer r.poller.Done()
	conc := int32(r.e.cfg.Concurrency)
	for {
		wait := r.e.cfg.Poll
		if free := conc - r.inFlight.Load(); free > 0 {
			n, next, err := r.claim(int(free))
			switch {
			case err != nil:
				r.e.errs.record("claim", err)
			case n == int(free):
				wait = 0 // there may be more due
			case next >= 0:
				wait = min(wait, next)
			}
		}
		if wait == 0 {
			select {
			case <-r.stop:
				return
			default:
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-r.stop:
			t.Stop()
			return
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claim leases up to n due sessions and starts their attempts. It returns
// how many it leased and the wait until the next due one (-1: none).
func (r *runner) claim(n int) (int, time.Duration, error) {
	token := r.e.node + ":" + itoa36(r.claims.Add(1))
	// The lease runs from about when this was sent, not from the answer's
	// arrival: the attempt's deadline is measured from here.
	now := time.Now()
	got, err := r.q.claim(context.Background(), n, token)
	if err != nil {
		return 0, 0, err
	}
	if got.tookBack > 0 {
		r.e.log.Info("took over deliveries whose lease ran out", zap.String("sink", r.name), zap.Int("sessions", got.tookBack))
	}
	if got.gaveUp > 0 {
		r.e.log.Warn("deliveries given up: their attempts were used up by nodes that stopped during them",
			zap.String("sink", r.name), zap.Int("sessions", got.gaveUp))
		r.result(outFailed, got.gaveUp, 0)
	}
	for _, c := range got.claims {
		c.claimedAt = now
		if c.superseded {
			r.result(outSuperseded, 1, 0)
		}
		r.inFlight.Add(1)
		r.tries.Add(1)
		go r.attempt(c)
	}
	return len(got.claims), got.next, nil
}

// attempt makes the leased delivery and records its result.
func (r *runner) attempt(c claim) {
	defer r.tries.Done()
	defer r.signal() // a slot is free
	defer r.inFlight.Add(-1)
	u := c.u
	if u == nil {
		// Not ours to deliver: give it up rather than retry it forever.
		r.e.log.Error("undecodable update in the queue, dropped", zap.String("sink", r.name),
			zap.Uint64("version", c.version))
		r.count(r.complete(c, completion{result: "fail", streak: "reset", failure: failureOf(errors.New("undecodable update"), time.Now())}), outFailed, 0)
		return
	}
	u.OccurredAt = u.Session.UpdatedAt
	var fp string
	if r.onChange {
		fp = stableFingerprint(&u.Session)
		if c.attempt == 1 && fp == c.delivered {
			r.count(r.complete(c, completion{result: "skip", fp: fp, streak: "keep"}), outSkipped, 0)
			return
		}
	}
	u = withEventID(u, r.name)
	u.Since = c.since
	start := time.Now()
	fb, err := r.deliver(u, c)
	latency := time.Since(start)
	if err == nil && !fb.IsZero() {
		// While the session is still leased: feedback comes in delivery
		// order.
		if f := r.e.onFeedback.Load(); f != nil {
			(*f)(r.name, u, fb)
		}
	}
	r.settle(c, fp, err, latency)
}

// deliver makes one attempt, bounded by Timeout and by the lease (less a
// margin, for clocks and the round trips around it), so that no other
// node starts this session while it runs.
func (r *runner) deliver(u *Update, c claim) (fb Feedback, err error) {
	cfg := &r.e.cfg
	margin := min(time.Second, (cfg.Lease-cfg.Timeout)/2)
	ctx, cancel := context.WithDeadline(r.ctx, c.claimedAt.Add(cfg.Lease-margin))
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel2()
	defer func() {
		if p := recover(); p != nil {
			err = &DeliveryError{Err: fmt.Errorf("sink panicked: %v", p)}
		}
	}()
	return r.sink.Deliver(ctx, u)
}

// settle records the attempt's outcome in the queue and the counters.
func (r *runner) settle(c claim, fp string, err error, latency time.Duration) {
	cfg := &r.e.cfg.Config
	var failure *DeliveryFailure
	if err != nil {
		failure = failureOf(err, time.Now())
	}
	switch {
	case err == nil:
		r.attempted(c, r.count(r.complete(c, completion{result: "ok", fp: fp, streak: "reset"}), outDelivered, latency), outDelivered)
	case r.ctx.Err() != nil && Retryable(err):
		// Cut short by Close: hand the lease back so that another node (or
		// this one's successor) goes on at once.
		r.complete(c, completion{result: "release", streak: "keep"})
	case Retryable(err) && c.attempt < cfg.MaxAttempts:
		done := r.complete(c, completion{result: "retry", next: cfg.retryDelay(c.streak, err), streak: "incr", failure: failure})
		r.attempted(c, r.count(done, outRetried, latency), outRetried)
	default:
		comp := completion{result: "fail", streak: "reset", failure: failure}
		if Retryable(err) {
			// The upstream struggles: the waiting update, if any, waits too.
			comp.next, comp.streak = cfg.retryDelay(c.streak, err), "incr"
		}
		if r.attempted(c, r.count(r.complete(c, comp), outFailed, latency), outFailed) {
			r.summary.fail(c.id, c.attempt, err)
		}
	}
}

// attempted tells OnAttempt of an outcome that was ours to record, and
// returns whether it was.
func (r *runner) attempted(c claim, ours bool, o outcome) bool {
	if ours {
		attempted(r.e.onAttempt.Load(), r.name, c.id, c.version, o)
	}
	return ours
}

// count counts outcome o when the result was ours to record, and reports
// whether it was.
func (r *runner) count(code int64, o outcome, latency time.Duration) bool {
	switch code {
	case completeDone:
		r.result(o, 1, latency)
		return true
	case completeCancelled:
		r.result(outDropped, 1, 0)
	}
	return false
}

// complete records a result and returns the queue's code; -1 when the
// queue did not answer (the lease runs out and the attempt is made again).
func (r *runner) complete(c claim, comp completion) int64 {
	code, err := r.q.complete(context.Background(), c, comp)
	switch {
	case err != nil:
		r.e.errs.record("complete", err)
		return -1
	case code == completeLost:
		r.e.log.Debug("delivery lease lost (taken over)", zap.String("sink", r.name), zap.Uint64("version", c.version))
	}
	return code
}

// stopClaiming ends the poller: no attempt starts after it returns.
func (r *runner) stopClaiming() {
	close(r.stop)
	r.poller.Wait()
}

// wait lets the attempts in flight finish until ctx is done, then cancels
// them; each hands its lease back (see settle).
func (r *runner) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.tries.Wait(); close(done) }()
	select {
	case <-done:
		r.endAttempts()
		return nil
	case <-ctx.Done():
	}
	left := r.inFlight.Load()
	r.endAttempts()
	<-done
	if left > 0 {
		return fmt.Errorf("sink %s: %d attempts cut short and handed back: %w", r.name, left, context.Cause(ctx))
	}
	return nil
}

// drained waits until nothing of the sink is held, or ctx is done.
func (r *runner) drained(ctx context.Context) {
	for {
		if n, err := r.q.pending(ctx); err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (r *runner) stats() SinkStats {
	st := SinkStats{Name: r.name, Pending: -1, InFlight: int(r.inFlight.Load())}
	ctx, cancel := context.WithTimeout(context.Background(), r.e.cfg.CommandTimeout)
	defer cancel()
	if n, err := r.q.pending(ctx); err == nil {
		st.Pending = n
	}
	r.counts.fill(&st)
	return st
}

// stableFingerprint hashes what an OnChange sink compares. It must be the
// same on every node: FNV-1a, not a seeded hash.
func stableFingerprint(s *model.Session) string {
	part := model.Session{Cart: s.Cart, Customer: s.Customer, Orders: s.Orders}
	h := fnv.New64a()
	h.Write(part.AppendBinary(nil))
	return strconv.FormatUint(h.Sum64(), 36)
}

func itoa36(n uint64) string { return strconv.FormatUint(n, 36) }

// retryDelay is the wait before the next attempt after streak earlier
// consecutive failures: the upstream's Retry-After, or full jitter below
// BaseBackoff·2^streak, both capped at MaxBackoff.
func (c *Config) retryDelay(streak int, err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) && de.RetryAfter > 0 {
		return min(de.RetryAfter, c.MaxBackoff)
	}
	ceil := c.BaseBackoff
	for i := 0; i < streak && ceil < c.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.MaxBackoff)
	return rand.N(ceil + 1)
}

// errCause describes a network error without the request's URL, which
// may carry ids of the visitor.
func errCause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	// A sink redacted the cause (Redaction.Err): what it wraps must not
	// be spelled out again.
	if re, ok := err.(*redactedError); ok {
		return re.msg
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + errCause(ue.Err)
	}
	return err.Error()
}

package delivery

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// deliveryWorker is one of a sink's Concurrency goroutines. It owns a
// scratch buffer for fingerprints.
type deliveryWorker struct {
	q   *sinkQueue
	buf []byte
}

// maxScratch is the largest fingerprint buffer a worker keeps.
const maxScratch = 64 << 10

func (q *sinkQueue) work() {
	defer q.wg.Done()
	w := deliveryWorker{q: q}
	for {
		s, u, first, since := q.take()
		if s == nil {
			return
		}
		w.handle(s, u, first, since)
	}
}

// take waits for a ready session and returns it with the update to
// attempt, whether this is that update's first attempt, and the version
// the sink last delivered. It returns a nil slot when the workers stop.
func (q *sinkQueue) take() (*slot, *Update, bool, uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.ready.n == 0 && !q.stopping {
		q.cond.Wait()
	}
	if q.stopping {
		return nil, nil, false, 0
	}
	s := q.ready.popFront()
	s.state = slotRunning
	if s.cur == nil {
		s.cur, s.pending = s.pending, nil
		s.lastVer = s.cur.Session.Version
		s.attempts = 0
	}
	s.attempts++
	q.inFlight++
	return s, s.cur, s.attempts == 1, s.status.deliveredVersion
}

func (w *deliveryWorker) handle(s *slot, u *Update, first bool, since uint64) {
	q := w.q
	var fp uint64
	if q.onChange {
		fp = w.fingerprint(u)
		if first && q.skip(s, fp) {
			q.notify(outSkipped, 1, 0)
			return
		}
	}
	u = withEventID(u, q.name)
	u.Since = since
	start := time.Now()
	fb, err := q.deliver(u)
	latency := time.Since(start)
	if err == nil && !fb.IsZero() {
		// Before settle, while the session is still held: feedback comes
		// in delivery order.
		if f := q.e.onFeedback.Load(); f != nil {
			(*f)(q.name, u, fb)
		}
	}
	o, attempts := q.settle(s, fp, err)
	if o == outFailed {
		q.summary.fail(s.id, attempts, err)
	}
	q.notify(o, 1, latency)
	attempted(q.e.onAttempt.Load(), q.name, s.id, u.Session.Version, o)
}

// skip ends s's turn when its update's cart, customer and orders are
// those the sink last got.
func (q *sinkQueue) skip(s *slot, fp uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !s.hasFP || s.fp != fp {
		return false
	}
	q.inFlight--
	s.cur = nil
	s.status.clearGivenUp() // the sink has this content already
	q.count(outSkipped, 1)
	q.finish(s)
	return true
}

// deliver makes one attempt, turning a sink's panic into a failure.
func (q *sinkQueue) deliver(u *Update) (fb Feedback, err error) {
	ctx, cancel := context.WithTimeout(q.ctx, q.e.cfg.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = &DeliveryError{Err: fmt.Errorf("sink panicked: %v", p)}
		}
	}()
	return q.sink.Deliver(ctx, u)
}

// settle records an attempt's result on the slot and returns its outcome
// and the update's attempts so far.
func (q *sinkQueue) settle(s *slot, fp uint64, err error) (outcome, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	attempts := s.attempts
	o := q.settleLocked(s, fp, err)
	q.count(o, 1)
	return o, attempts
}

func (q *sinkQueue) settleLocked(s *slot, fp uint64, err error) outcome {
	s.status.record(s.cur.Session.Version, err, time.Now())
	switch {
	case err == nil:
		s.cur, s.streak = nil, 0
		s.fp, s.hasFP = fp, q.onChange
		q.finish(s)
		return outDelivered
	case q.stopping && Retryable(err):
		s.state = slotLeft // cancelled by stop: left undelivered
		return outNone
	case s.cancelled && Retryable(err):
		s.cur = nil
		q.finish(s)
		return outDropped
	case Retryable(err) && s.attempts < q.e.cfg.MaxAttempts:
		q.backoff(s, err)
		return outRetried
	}
	s.status.giveUp(s.attempts, time.Now())
	// What the update given up changed (its order) rides with the next.
	s.pending = coalescedPending(s.pending, s.cur)
	s.cur = nil
	if Retryable(err) && s.pending != nil {
		q.backoff(s, err) // the upstream struggles: wait before the next one too
	} else {
		s.streak = 0
		q.finish(s)
	}
	return outFailed
}

// backoff parks s until its retry is due.
func (q *sinkQueue) backoff(s *slot, err error) {
	d := q.e.cfg.retryDelay(s.streak, err)
	s.status.nextAttempt = time.Now().Add(d)
	s.streak++
	s.state = slotBackoff
	s.timer = time.AfterFunc(d, func() { q.retry(s) })
}

// retry puts a session whose backoff ended back on the ready queue, with
// its newest update if one arrived meanwhile.
func (q *sinkQueue) retry(s *slot) {
	q.mu.Lock()
	if s.state != slotBackoff {
		q.mu.Unlock()
		return
	}
	superseded := q.retryLocked(s)
	q.count(outSuperseded, superseded)
	q.mu.Unlock()
	q.notify(outSuperseded, superseded, 0)
}

// retryLocked makes a session in backoff ready and returns how many
// updates that superseded (1 when a newer one replaces the failed one).
func (q *sinkQueue) retryLocked(s *slot) int {
	s.timer = nil
	superseded := 0
	if s.pending != nil && s.cur != nil {
		s.pending = coalesced(s.pending, s.cur)
		s.cur = nil
		superseded = 1
	}
	q.makeReady(s)
	return superseded
}

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

// fingerprint hashes what an OnChange sink compares: cart, customer and
// orders, in their binary encoding.
func (w *deliveryWorker) fingerprint(u *Update) uint64 {
	s := model.Session{Cart: u.Session.Cart, Customer: u.Session.Customer, Orders: u.Session.Orders}
	w.buf = s.AppendBinary(w.buf[:0])
	h := maphash.Bytes(w.q.e.seed, w.buf)
	if cap(w.buf) > maxScratch {
		w.buf = nil
	}
	return h
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

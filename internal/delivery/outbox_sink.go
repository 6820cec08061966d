package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// outboxKeys are one sink's key names.
type outboxKeys struct {
	base, due, lease, state string // state is the per-session hash's prefix
	clients                 string // held sessions per client key
}

// outboxSink is one sink's share of the outbox: a poller that leases due
// sessions while this node has free slots, and the attempts it runs.
type outboxSink struct {
	o        *Outbox
	sink     Sink
	name     string
	onChange bool
	keys     outboxKeys

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

func newOutboxSink(o *Outbox, s Sink, opt SinkOptions) *outboxSink {
	name := opt.Name
	if name == "" {
		name = s.Name()
	}
	base := o.cfg.Prefix + "o:" + name
	q := &outboxSink{
		o: o, sink: s, name: name, onChange: opt.On != OnAction,
		keys: outboxKeys{base: base, due: base + ":due", lease: base + ":lease", state: base + ":s:", clients: base + ":cl"},
		stop: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	q.ctx, q.endAttempts = context.WithCancel(context.Background())
	q.summary = newSummary(name, o.cfg.QueueSize, o.log, o.cfg.LogInterval)
	return q
}

func (q *outboxSink) start() {
	q.poller.Add(1)
	go q.poll()
}

func (q *outboxSink) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// result counts and reports n outcomes o.
func (q *outboxSink) result(o outcome, n int, latency time.Duration) {
	q.counts.add(o, n)
	report(q.o.onResult.Load(), q.name, o, n, latency)
}

// wants reports whether the sink takes u, counting it when not.
func (q *outboxSink) wants(u *Update) bool {
	switch {
	case q.onChange && !u.Changed.Data():
		q.result(outSkipped, 1, 0)
	case q.o.closed.Load():
		q.result(outDropped, 1, 0)
	default:
		return true
	}
	return false
}

// enqueue queues u, which the sink wants, with payload its encoding and
// client its client's key.
func (q *outboxSink) enqueue(ctx context.Context, u *Update, payload []byte, client string) error {
	id := u.Session.ID
	res, err := q.o.exec(ctx, enqueueScript,
		[]string{q.keys.state + id, q.keys.due, q.keys.lease, q.keys.clients},
		[]string{id, strconv.FormatUint(u.Session.Version, 10), rueidis.BinaryString(payload),
			strconv.Itoa(int(u.Changed)), "0", strconv.Itoa(q.o.cfg.QueueSize), ms(q.o.cfg.StateTTL),
			client, strconv.Itoa(ClientShare(q.o.cfg.QueueSize))}).ToString()
	switch {
	case err != nil:
		q.o.errs.record("enqueue", err)
		q.result(outDropped, 1, 0)
		return err
	case res == "dropped":
		q.summary.drop(1)
		q.result(outDropped, 1, 0)
	case res == "superseded", res == "stale":
		q.result(outSuperseded, 1, 0)
	default:
		q.signal()
	}
	return nil
}

func (q *outboxSink) cancel(id string) {
	held, err := q.o.exec(context.Background(), cancelScript,
		[]string{q.keys.state + id, q.keys.due, q.keys.lease, q.keys.clients}, []string{id}).AsInt64()
	if err != nil {
		q.o.errs.record("cancel", err)
		return
	}
	q.result(outDropped, int(held), 0)
}

// poll leases due sessions while this node has free slots, and sleeps
// until a local enqueue, a freed slot, the next due time or Poll.
func (q *outboxSink) poll() {
	defer q.poller.Done()
	conc := int32(q.o.cfg.Concurrency)
	for {
		wait := q.o.cfg.Poll
		if free := conc - q.inFlight.Load(); free > 0 {
			n, next, err := q.claim(int(free))
			switch {
			case err != nil:
				q.o.errs.record("claim", err)
			case n == int(free):
				wait = 0 // there may be more due
			case next >= 0:
				wait = min(wait, next)
			}
		}
		if wait == 0 {
			select {
			case <-q.stop:
				return
			default:
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-q.stop:
			t.Stop()
			return
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claim leases up to n due sessions and starts their attempts. It returns
// how many it leased and the wait until the next due one (-1: none).
func (q *outboxSink) claim(n int) (int, time.Duration, error) {
	token := q.o.node + ":" + strconv.FormatUint(q.claims.Add(1), 36)
	// The lease runs from about when this was sent, not from the answer's
	// arrival: the attempt's deadline is measured from here.
	now := time.Now()
	vals, err := q.o.exec(context.Background(), claimScript, []string{q.keys.due, q.keys.lease, q.keys.clients},
		[]string{strconv.Itoa(q.o.cfg.MaxAttempts), strconv.Itoa(n), ms(q.o.cfg.Lease), q.keys.state, token, ms(q.o.cfg.StateTTL)}).ToArray()
	if err != nil {
		return 0, 0, err
	}
	if len(vals) < 3 {
		return 0, 0, fmt.Errorf("claim script answered %d values", len(vals))
	}
	if back, _ := vals[0].AsInt64(); back > 0 {
		q.o.log.Info("took over deliveries whose lease ran out", zap.String("sink", q.name), zap.Int64("sessions", back))
	}
	nextMS, _ := vals[1].AsInt64()
	if gaveUp, _ := vals[2].AsInt64(); gaveUp > 0 {
		q.o.log.Warn("deliveries given up: their attempts were used up by nodes that stopped during them",
			zap.String("sink", q.name), zap.Int64("sessions", gaveUp))
		q.result(outFailed, int(gaveUp), 0)
	}
	for _, v := range vals[3:] {
		c, err := parseClaim(v, now)
		if err != nil {
			q.o.errs.record("claim", err)
			continue
		}
		if c.superseded {
			q.result(outSuperseded, 1, 0)
		}
		q.inFlight.Add(1)
		q.tries.Add(1)
		go q.attempt(c)
	}
	next := time.Duration(-1)
	if nextMS >= 0 {
		next = time.Duration(nextMS) * time.Millisecond
	}
	return len(vals) - 3, next, nil
}

// stopClaiming ends the poller: no attempt starts after it returns.
func (q *outboxSink) stopClaiming() {
	close(q.stop)
	q.poller.Wait()
}

// wait lets the attempts in flight finish until ctx is done, then cancels
// them; each hands its lease back (see attempt).
func (q *outboxSink) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.tries.Wait(); close(done) }()
	select {
	case <-done:
		q.endAttempts()
		return nil
	case <-ctx.Done():
	}
	left := q.inFlight.Load()
	q.endAttempts()
	<-done
	if left > 0 {
		return fmt.Errorf("upstream %s: %d attempts cut short and handed back: %w", q.name, left, context.Cause(ctx))
	}
	return nil
}

func (q *outboxSink) stats() SinkStats {
	st := SinkStats{Name: q.name, Pending: -1, InFlight: int(q.inFlight.Load())}
	cmds := rueidis.Commands{
		q.o.c.B().Zcard().Key(q.keys.due).Build(),
		q.o.c.B().Zcard().Key(q.keys.lease).Build(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.o.cfg.CommandTimeout)
	defer cancel()
	res := q.o.c.DoMulti(ctx, cmds...)
	due, err1 := res[0].AsInt64()
	lease, err2 := res[1].AsInt64()
	if err := errors.Join(err1, err2); err == nil {
		st.Pending = int(due + lease)
	}
	q.counts.fill(&st)
	return st
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

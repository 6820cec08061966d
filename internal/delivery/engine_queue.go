package delivery

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// sinkQueue is one sink's share of the engine: its sessions, its ready
// queue, its workers and its counters. Everything but the counters is
// guarded by mu.
type sinkQueue struct {
	e        *Engine
	sink     Sink
	name     string
	onChange bool
	maxIdle  int
	share    int // the most sessions one client may hold (ClientShare)

	ctx    context.Context // cancelled when the workers stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     sync.Cond // signalled when a slot becomes ready, or on stop
	sessions map[string]*slot
	ready    slotList       // FIFO of sessions with an attempt to make
	idle     slotList       // sessions with nothing undelivered, least recent first
	active   int            // sessions with an undelivered update
	clients  map[string]int // active sessions by the client they are charged to
	inFlight int
	closed   bool // no more updates taken
	stopping bool // workers exit, attempts are cancelled
	drained  chan struct{}
	drainEnd bool // drained is closed

	counts  tally
	summary *summary // give-ups and drops, logged per interval
}

// slotState is where a session's slot is.
type slotState uint8

const (
	slotIdle    slotState = iota // nothing undelivered; on the idle list
	slotReady                    // on the ready list
	slotRunning                  // a worker holds it
	slotBackoff                  // waiting for its retry timer
	slotLeft                     // left undelivered by stop
	slotGone                     // forgotten (Cancel, eviction)
)

// slot is one session as one sink sees it.
type slot struct {
	id         string
	client     string // charged with the slot while active; "" for none
	prev, next *slot  // on ready or idle, depending on state
	state      slotState
	cur        *Update // the update being attempted or waiting to be retried
	pending    *Update // the newest update behind cur
	lastVer    uint64  // the highest version started (delivered, skipped, failed or in flight)
	fp         uint64  // fingerprint of the last delivered cart, customer and orders
	hasFP      bool
	attempts   int // attempts of cur
	streak     int // consecutive retryable failures, for the backoff
	cancelled  bool
	timer      *time.Timer
	status     slotStatus // what Status reports
}

// outcome indexes a tally.
type outcome uint8

const (
	outDelivered outcome = iota
	outRetried
	outSuperseded
	outDropped
	outFailed
	outSkipped
	numOutcomes
	outNone = numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OutcomeDelivered, OutcomeRetried, OutcomeSuperseded, OutcomeDropped, OutcomeFailed, OutcomeSkipped,
}

func newSinkQueue(e *Engine, s Sink, opt SinkOptions) *sinkQueue {
	name := opt.Name
	if name == "" {
		name = s.Name()
	}
	q := &sinkQueue{
		e:        e,
		sink:     s,
		name:     name,
		onChange: opt.On != OnAction,
		maxIdle:  historyFactor * e.cfg.QueueSize,
		share:    ClientShare(e.cfg.QueueSize),
		sessions: make(map[string]*slot),
		clients:  make(map[string]int),
		drained:  make(chan struct{}),
	}
	q.cond.L = &q.mu
	q.summary = newSummary(name, e.cfg.QueueSize, e.log, e.cfg.LogInterval)
	q.ctx, q.cancel = context.WithCancel(context.Background())
	return q
}

func (q *sinkQueue) start() {
	q.wg.Add(q.e.cfg.Concurrency)
	for range q.e.cfg.Concurrency {
		go q.work()
	}
}

// count counts n updates with outcome o. Callers holding mu count there,
// so that Stats agree with the state once Close has returned.
func (q *sinkQueue) count(o outcome, n int) { q.counts.add(o, n) }

// notify reports n outcomes o to OnResult; never with mu held.
func (q *sinkQueue) notify(o outcome, n int, latency time.Duration) {
	report(q.e.onResult.Load(), q.name, o, n, latency)
}

func (q *sinkQueue) enqueue(u *Update) {
	if q.onChange && !u.Changed.Data() {
		q.count(outSkipped, 1)
		q.notify(outSkipped, 1, 0)
		return
	}
	q.mu.Lock()
	o := q.admit(u)
	q.count(o, 1)
	q.mu.Unlock()
	if o == outDropped {
		q.summary.drop(1)
	}
	q.notify(o, 1, 0)
}

// admit queues u and returns what to count: the outcome of u, or of the
// update u replaced.
func (q *sinkQueue) admit(u *Update) outcome {
	if q.closed {
		return outDropped
	}
	s := q.sessions[u.Session.ID]
	v := u.Session.Version
	if s != nil && v <= s.lastVer {
		return outSuperseded
	}
	if s == nil || s.state == slotIdle {
		return q.admitIdle(s, u)
	}
	if s.pending != nil && v <= s.pending.Session.Version {
		return outSuperseded
	}
	old := s.pending
	s.pending = coalesced(u, old)
	if old != nil {
		return outSuperseded
	}
	return outNone
}

// admitIdle queues u for a session holding nothing undelivered, if the
// queue has room and u's client holds less than its share.
func (q *sinkQueue) admitIdle(s *slot, u *Update) outcome {
	if q.active >= q.e.cfg.QueueSize || (u.Client != "" && q.clients[u.Client] >= q.share) {
		return outDropped
	}
	if s == nil {
		s = &slot{id: u.Session.ID}
		q.sessions[s.id] = s
	} else {
		q.idle.remove(s)
	}
	q.active++
	s.client = u.Client
	if s.client != "" {
		q.clients[s.client]++
	}
	s.pending = u
	q.makeReady(s)
	return outNone
}

// deactivate takes s off the active count and its client's share.
func (q *sinkQueue) deactivate(s *slot) {
	q.active--
	if s.client == "" {
		return
	}
	if q.clients[s.client]--; q.clients[s.client] <= 0 {
		delete(q.clients, s.client) // the map holds only clients with a session queued
	}
	s.client = ""
}

func (q *sinkQueue) makeReady(s *slot) {
	s.state = slotReady
	q.ready.pushBack(s)
	q.cond.Signal()
}

// finish ends the attempts at s.cur, which the caller has cleared: the
// session goes on with its pending update, or becomes idle.
func (q *sinkQueue) finish(s *slot) {
	if s.cancelled {
		s.cancelled, s.fp, s.hasFP = false, 0, false
		if s.pending == nil {
			q.forget(s)
			return
		}
	}
	if s.pending != nil {
		q.makeReady(s)
		return
	}
	s.state = slotIdle
	q.deactivate(s)
	q.idle.pushBack(s)
	for q.idle.n > q.maxIdle {
		old := q.idle.popFront()
		old.state = slotGone
		delete(q.sessions, old.id)
	}
	q.checkDrained()
}

// forget removes an active session entirely.
func (q *sinkQueue) forget(s *slot) {
	s.state = slotGone
	s.cur, s.pending = nil, nil
	delete(q.sessions, s.id)
	q.deactivate(s)
	q.checkDrained()
}

func (q *sinkQueue) checkDrained() {
	if q.closed && q.active == 0 && !q.drainEnd {
		q.drainEnd = true
		close(q.drained)
	}
}

func (q *sinkQueue) cancelSession(id string) {
	q.mu.Lock()
	n := q.cancelLocked(id)
	q.count(outDropped, n)
	q.mu.Unlock()
	q.notify(outDropped, n, 0)
}

// cancelLocked drops what the session has waiting and returns how many
// updates that was.
func (q *sinkQueue) cancelLocked(id string) int {
	s := q.sessions[id]
	if s == nil {
		return 0
	}
	n := 0
	if s.pending != nil {
		n++
	}
	switch s.state {
	case slotIdle:
		q.idle.remove(s)
		s.state = slotGone
		delete(q.sessions, id)
	case slotRunning:
		s.pending = nil
		s.cancelled = true
	case slotReady, slotBackoff:
		if s.cur != nil {
			n++
		}
		if s.state == slotReady {
			q.ready.remove(s)
		} else {
			s.timer.Stop()
		}
		q.forget(s)
	default: // left by stop: nothing runs any more
		n = 0
	}
	return n
}

// close stops taking updates.
func (q *sinkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.checkDrained()
	q.mu.Unlock()
}

// stop cancels the attempts in flight and the retry timers, waits for the
// workers and logs what was left. It returns how many sessions' updates
// were left undelivered.
func (q *sinkQueue) stop() int {
	q.mu.Lock()
	q.stopping = true
	q.cancel()
	for _, s := range q.sessions {
		if s.state == slotBackoff {
			s.timer.Stop()
		}
		if s.state == slotBackoff || s.state == slotReady {
			s.state = slotLeft
		}
	}
	q.ready = slotList{}
	q.cond.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()

	q.summary.flush()
	st := q.stats()
	log := q.e.log.Info
	if st.Pending > 0 {
		log = q.e.log.Warn
	}
	log("upstream sink stopped",
		zap.String("sink", q.name),
		zap.Int("undelivered_sessions", st.Pending),
		zap.Int("undelivered_updates", q.undelivered()),
		zap.Uint64("delivered", st.Delivered),
		zap.Uint64("failed", st.Failed),
		zap.Uint64("dropped", st.Dropped))
	return st.Pending
}

// undelivered counts the updates held: at most two per active session.
func (q *sinkQueue) undelivered() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, s := range q.sessions {
		if s.cur != nil {
			n++
		}
		if s.pending != nil {
			n++
		}
	}
	return n
}

func (q *sinkQueue) stats() SinkStats {
	q.mu.Lock()
	st := SinkStats{Name: q.name, Pending: q.active, InFlight: q.inFlight}
	q.mu.Unlock()
	q.counts.fill(&st)
	return st
}

// slotList is an intrusive doubly linked list of slots; a slot is on at
// most one list at a time.
type slotList struct {
	head, tail *slot
	n          int
}

func (l *slotList) pushBack(s *slot) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

func (l *slotList) popFront() *slot {
	s := l.head
	if s != nil {
		l.remove(s)
	}
	return s
}

func (l *slotList) remove(s *slot) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
	l.n--
}

package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// memQueue is a sink's queue in this process's memory: the Redis scripts'
// rules (outbox_lua.go), in Go, under one mutex. Sessions held are in
// held; a sink remembers what it last got of up to historyFactor ×
// QueueSize idle sessions, the least recently used forgotten first.
type memQueue struct {
	size, share, maxAttempts int
	leaseFor                 time.Duration

	mu      sync.Mutex
	held    map[string]*memSession // in due or lease
	idle    *boundedMap[*memSession]
	due     dueHeap
	dueAt   map[string]dueEntry
	leases  map[string]time.Time // session -> when its lease runs out
	clients map[string]int       // held sessions per client
	seq     uint64
}

// memSession is one session as the sink sees it; the fields are the
// Redis hash's (see outbox_lua.go).
type memSession struct {
	id         string
	pv, fv, lv uint64
	pu, fu     *Update
	pc, fc     model.Change
	tok        string
	att, stk   int
	dfp        string
	dv         uint64
	dt, na, gt time.Time
	le         *DeliveryFailure
	ga         int
	cl         string
	// ep is the session's incarnation (see outbox_lua.go), fe fv's; the
	// flags say whether they are set, as a hash field is or is not.
	ep, fe       int64
	epSet, feSet bool
}

func newMemQueue(cfg engineConfig) *memQueue {
	return &memQueue{
		size: cfg.QueueSize, share: ClientShare(cfg.QueueSize), maxAttempts: cfg.MaxAttempts, leaseFor: cfg.Lease,
		held: map[string]*memSession{}, idle: newBoundedMap[*memSession](historyFactor * cfg.QueueSize),
		dueAt: map[string]dueEntry{}, leases: map[string]time.Time{}, clients: map[string]int{},
	}
}

// load is id's state, taken off the idle list (save puts it back), or a
// new one.
func (q *memQueue) load(id string) (*memSession, bool) {
	if st := q.held[id]; st != nil {
		return st, true
	}
	if st, ok := q.idle.take(id); ok {
		return st, true
	}
	return &memSession{id: id}, false
}

// save files st as held or idle, by whether it is in due or lease.
func (q *memQueue) save(st *memSession) {
	_, due := q.dueAt[st.id]
	_, leased := q.leases[st.id]
	if due || leased {
		q.held[st.id] = st
		return
	}
	delete(q.held, st.id)
	if st.empty() {
		// As Redis drops an empty hash: nothing to remember.
		q.idle.take(st.id)
		return
	}
	q.idle.put(st.id, st)
}

// empty reports a state that remembers nothing.
func (st *memSession) empty() bool {
	return st.pv == 0 && st.fv == 0 && st.lv == 0 && st.dv == 0 && st.dfp == "" && st.tok == "" &&
		st.cl == "" && st.le == nil && st.gt.IsZero() && st.na.IsZero() && st.att == 0 && st.stk == 0 && !st.epSet
}

// release takes a session that stops being held off its client's count.
func (q *memQueue) release(st *memSession) {
	if st.cl == "" {
		return
	}
	if q.clients[st.cl]--; q.clients[st.cl] <= 0 {
		delete(q.clients, st.cl)
	}
	st.cl = ""
}

func (q *memQueue) full() bool { return len(q.dueAt)+len(q.leases) >= q.size }

func (q *memQueue) enqueue(_ context.Context, u *Update, client string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, known := q.load(u.Session.ID)
	if known {
		defer q.save(st)
	}
	v, ep := u.Session.Version, u.Session.CreatedAt.UnixMilli()
	if st.epSet && st.ep != ep {
		// Created again: what the sink had of the old session says
		// nothing of this one, whose versions start over.
		st.lv, st.dv, st.dt, st.dfp = 0, 0, time.Time{}, ""
	} else if v <= st.pv || v <= st.fv || v <= st.lv {
		return admitStale, nil
	}
	changes, res := u.Changed, admitQueued
	switch {
	case st.pv > 0:
		res, changes = admitSuperseded, changes|st.pc
	case st.fv == 0 && st.tok == "": // not held
		if q.full() || (client != "" && q.clients[client] >= q.share) {
			return admitDropped, nil
		}
		q.dueAdd(st.id, time.Now())
		if client != "" {
			q.clients[client]++
			st.cl = client
		}
	}
	st.pv, st.pu, st.pc, st.ep, st.epSet = v, u, changes, ep, true
	if !known {
		q.save(st)
	}
	return res, nil
}

func (q *memQueue) claim(_ context.Context, n int, token string) (claimBatch, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	out := claimBatch{next: -1}
	for id, until := range q.leases {
		if !until.After(now) {
			delete(q.leases, id)
			st := q.held[id]
			st.tok = ""
			out.tookBack++
			if st.fv > 0 || st.pv > 0 {
				q.dueAdd(id, now)
				continue
			}
			// Cancelled while in flight, nothing queued since.
			q.release(st)
			q.save(st)
		}
	}
	for i := 0; i < n; i++ {
		id, ok := q.duePop(now)
		if !ok {
			break
		}
		st := q.held[id]
		c, res := q.lease(st, now, token, i)
		switch res {
		case leased:
			out.claims = append(out.claims, c)
		case gaveUp:
			out.gaveUp++
		}
		q.save(st)
	}
	if at, ok := q.dueNext(); ok {
		out.next = max(0, at.Sub(now))
	}
	return out, nil
}

// What lease did.
const (
	leased = iota
	gaveUp
	released
)

// lease starts st's next attempt, or gives its update up when its
// attempts are used up, or releases it when nothing waits.
func (q *memQueue) lease(st *memSession, now time.Time, token string, i int) (claim, int) {
	sup := false
	if st.pv > 0 {
		fc := st.pc
		if st.fv > 0 {
			// what the update replaced changed (its order) rides with this one
			sup, fc = true, fc|st.fc
		}
		st.fv, st.fu, st.fc, st.lv, st.att = st.pv, st.pu, fc, st.pv, 0
		st.fe, st.feSet = st.ep, st.epSet
		st.pv, st.pu, st.pc = 0, nil, 0
	}
	switch {
	case st.fv > 0 && st.att >= q.maxAttempts:
		st.le = &DeliveryFailure{Message: "given up: its attempts were used up by nodes that stopped during them", At: now.UTC()}
		st.ga, st.gt = st.att, now
		st.fv, st.fu, st.fc, st.att, st.tok, st.fe, st.feSet = 0, nil, 0, 0, "", 0, false
		q.release(st)
		return claim{}, gaveUp
	case st.fv == 0:
		q.release(st)
		return claim{}, released
	}
	st.tok = token + ":" + itoa36(uint64(i+1))
	st.att++
	q.leases[st.id] = now.Add(q.leaseFor)
	u := *st.fu
	u.Changed = st.fc
	return claim{id: st.id, version: st.fv, u: &u, changes: st.fc, attempt: st.att, streak: st.stk,
		delivered: st.dfp, token: st.tok, superseded: sup, since: st.dv}, leased
}

func (q *memQueue) complete(_ context.Context, c claim, r completion) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.held[c.id]
	if st == nil || st.tok != c.token {
		return completeLost, nil
	}
	defer q.save(st)
	now := time.Now()
	delete(q.leases, c.id)
	st.tok = ""
	if st.fv == 0 { // cancelled while in flight
		if st.pv > 0 {
			q.dueAdd(c.id, now)
		} else {
			q.release(st)
		}
		return completeCancelled, nil
	}
	st.na = time.Time{}
	if r.failure != nil {
		st.le, st.ga, st.gt = r.failure, 0, time.Time{}
	}
	q.settle(st, r, now)
	switch r.streak {
	case "reset":
		st.stk = 0
	case "incr":
		st.stk++
	}
	if _, due := q.dueAt[c.id]; !due {
		q.release(st)
	}
	return completeDone, nil
}

func (q *memQueue) settle(st *memSession, r completion, now time.Time) {
	switch r.result {
	case "retry":
		st.na = now.Add(r.next)
		q.dueAdd(st.id, st.na)
		return
	case "release":
		st.att--
		q.dueAdd(st.id, now)
		return
	case "ok":
		// What the sink got of an older incarnation says nothing of this one.
		if st.fe == st.ep && st.feSet == st.epSet {
			st.dfp, st.dv, st.dt = r.fp, st.fv, now
		}
	}
	if r.result == "fail" {
		st.ga, st.gt = st.att, now
		// what the update given up changed (its order) rides with the next
		st.pc |= st.fc
	} else {
		st.ga, st.gt = 0, time.Time{}
	}
	st.fv, st.fu, st.fc, st.att, st.fe, st.feSet = 0, nil, 0, 0, 0, false
	if st.pv > 0 {
		q.dueAdd(st.id, now.Add(r.next))
	}
}

func (q *memQueue) cancel(_ context.Context, id string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, known := q.load(id)
	if !known {
		return 0, nil
	}
	dropped := 0
	if st.pv > 0 {
		dropped++
	}
	if st.fv > 0 && st.tok == "" {
		dropped++
	}
	q.dueDel(id)
	if _, leased := q.leases[id]; leased && st.tok != "" {
		// The attempt in flight keeps its lease; its result is dropped.
		q.held[id] = &memSession{id: id, tok: st.tok, cl: st.cl}
		return dropped, nil
	}
	q.release(st)
	delete(q.leases, id)
	delete(q.held, id)
	return dropped, nil
}

func (q *memQueue) retry(_ context.Context, u *Update) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, _ := q.load(u.Session.ID)
	defer q.save(st)
	ep := u.Session.CreatedAt.UnixMilli()
	if st.epSet && st.ep != ep {
		st.lv, st.dv, st.dt, st.dfp = 0, 0, time.Time{}, ""
	}
	switch {
	case st.tok != "":
		return RetryInFlight, nil
	case st.fv > 0 || st.pv > 0:
		q.dueAdd(st.id, time.Now())
		st.att, st.na = 0, time.Time{}
		return RetryQueued, nil
	case st.dv >= u.Session.Version:
		return RetryDelivered, nil
	case q.full():
		return admitDropped, nil
	}
	st.pv, st.pu, st.pc, st.ep, st.epSet = u.Session.Version, u, u.Changed, ep, true
	q.dueAdd(st.id, time.Now())
	return RetryQueued, nil
}

func (q *memQueue) status(_ context.Context, id string) (DeliveryStatus, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.held[id]
	if st == nil {
		st, _ = q.idle.get(id)
	}
	if st == nil {
		return DeliveryStatus{}, nil
	}
	_, leased := q.leases[id]
	ds := DeliveryStatus{Known: true, InFlight: leased && st.tok != "", DeliveredVersion: st.dv,
		PendingVersion: max(st.pv, st.fv), NextAttemptAt: st.na, LastError: st.le}
	if !st.dt.IsZero() {
		ds.DeliveredAt = st.dt.UTC()
	}
	if st.fv > 0 {
		ds.Attempts = st.att
	}
	switch {
	case st.gt.IsZero():
	case ds.PendingVersion == 0:
		ds.GivenUpAt, ds.Attempts = st.gt.UTC(), st.ga
	default:
		ds.lastErrorOld = true // the pending update has not failed yet
	}
	if !ds.NextAttemptAt.IsZero() {
		ds.NextAttemptAt = ds.NextAttemptAt.UTC()
	}
	return ds, nil
}

func (q *memQueue) pending(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.dueAt) + len(q.leases), nil
}

var _ queue = (*memQueue)(nil)

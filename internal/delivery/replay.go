package delivery

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Replay. An operator replays to a sink the current state of every session
// written since a time: a sink added later, or updates given up in a long
// outage. The job runs in the background, a batch at a time, only while
// the sink's queue is short (visitors' deliveries come first), and keeps
// its cursor where the backend keeps queues: with Redis, any node takes
// over a job whose node stopped, from where it was.

// ReplaySource is where a replay finds the sessions: the store.
type ReplaySource interface {
	// Page lists up to n sessions last written from since to until,
	// after cursor ("" to start), each with the cursor that resumes after
	// it, and the cursor after the page ("" when there are no more).
	Page(ctx context.Context, since, until time.Time, cursor string, n int) ([]ReplayEntry, string, error)
	// Get returns the session, nil when it is gone.
	Get(ctx context.Context, id string) (*model.Session, error)
}

// ReplayEntry is one session of a page, and the cursor after it.
type ReplayEntry struct{ ID, Cursor string }

// ReplayStatus is a replay's progress.
type ReplayStatus struct {
	Sink string `json:"sink"`
	// State is "none" (never started), "running" or "done".
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Queued counts the sessions handed to the sink's queue so far (one
	// it already has at that version is not sent again); Skipped those
	// gone since, or without the consent the sink requires.
	Queued    int64     `json:"queued"`
	Skipped   int64     `json:"skipped"`
	StartedAt time.Time `json:"started_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// LastError is the last batch's failure, retried.
	LastError string `json:"last_error,omitempty"`
	// Cursor is where the job goes on from.
	Cursor string `json:"-"`
}

// The replay states.
const (
	ReplayNone    = "none"
	ReplayRunning = "running"
	ReplayDone    = "done"
)

// ErrReplayRunning refuses a replay while one runs for the sink.
var ErrReplayRunning = errors.New("a replay to this sink is running")

// replayStore keeps replays' progress, and says which node runs each.
type replayStore interface {
	load(ctx context.Context, sink string) (ReplayStatus, error)
	save(ctx context.Context, st ReplayStatus) error
	// lease takes or renews the right to run sink's replay for ttl.
	lease(ctx context.Context, sink, owner string, ttl time.Duration) (bool, error)
}

// Replay timing: a batch of at most replayBatch sessions, no more than
// the sink's queue has room for below a quarter of its size, then a
// pause; replaySteps batches per sink and tick, so that every sink's
// replay moves.
var (
	replayBatch = 200
	replayPause = 50 * time.Millisecond
	replayTick  = time.Second
	replayLease = 10 * time.Second
	replaySteps = 20
)

// SetReplaySource gives the engine the store replays read from, and
// starts the background work that runs (and takes over) replays.
func (e *Engine) SetReplaySource(src ReplaySource) {
	e.replayOnce.Do(func() {
		e.replaySrc = src
		ctx, cancel := context.WithCancel(context.Background())
		e.replayStop = cancel
		e.replayDone.Add(1)
		go e.replayLoop(ctx)
	})
}

// Replay starts queuing to sink the current state of every session
// written since since.
func (e *Engine) Replay(ctx context.Context, sink string, since time.Time) (ReplayStatus, error) {
	if e.runner(sink) == nil {
		return ReplayStatus{}, ErrUnknownSink
	}
	if e.replaySrc == nil {
		return ReplayStatus{}, errors.New("replay: no session source")
	}
	rs := e.back.replays()
	cur, err := rs.load(ctx, sink)
	if err != nil {
		return cur, err
	}
	if cur.State == ReplayRunning && time.Since(cur.UpdatedAt) < 3*replayLease {
		return cur, ErrReplayRunning
	}
	now := time.Now().UTC()
	st := ReplayStatus{Sink: sink, State: ReplayRunning, Since: since.UTC(), StartedAt: now, UpdatedAt: now}
	if err := rs.save(ctx, st); err != nil {
		return st, err
	}
	e.wakeReplay()
	return st, nil
}

// ReplayStatus reads sink's replay.
func (e *Engine) ReplayStatus(ctx context.Context, sink string) (ReplayStatus, error) {
	if e.runner(sink) == nil {
		return ReplayStatus{}, ErrUnknownSink
	}
	st, err := e.back.replays().load(ctx, sink)
	st.Sink = sink
	return st, err
}

func (e *Engine) wakeReplay() {
	select {
	case e.replayWake <- struct{}{}:
	default:
	}
}

// replayLoop runs the replays this node holds, and takes over those no
// node holds, until the engine closes.
func (e *Engine) replayLoop(ctx context.Context) {
	defer e.replayDone.Done()
	t := time.NewTicker(replayTick)
	defer t.Stop()
	for {
		for _, r := range e.runners() {
			e.runReplay(ctx, r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.replayWake:
		}
	}
}

// runReplay runs some batches of r's replay, if one is running and no
// other node holds it.
func (e *Engine) runReplay(ctx context.Context, r *runner) {
	rs := e.back.replays()
	for range replaySteps {
		if ctx.Err() != nil {
			return
		}
		st, err := rs.load(ctx, r.name)
		if err != nil || st.State != ReplayRunning {
			return
		}
		if ok, err := rs.lease(ctx, r.name, e.node, replayLease); err != nil || !ok {
			return
		}
		room := e.replayRoom(ctx, r)
		if room > 0 {
			if err := e.replayStep(ctx, r, &st, room); err != nil {
				st.LastError = err.Error()
			}
		}
		st.UpdatedAt = time.Now().UTC()
		// Another replay may have been started since ours was read: ours
		// must not overwrite it.
		if cur, err := rs.load(ctx, r.name); err != nil || !cur.StartedAt.Equal(st.StartedAt) {
			return
		}
		if err := rs.save(ctx, st); err != nil || st.State == ReplayDone || room <= 0 {
			return
		}
		sleepCtx(ctx, replayPause)
	}
}

// replayRoom is how many sessions a batch may queue: the room left below
// a quarter of the sink's queue, at most replayBatch.
func (e *Engine) replayRoom(ctx context.Context, r *runner) int {
	n, err := r.q.pending(ctx)
	if err != nil {
		return 0
	}
	return min(replayBatch, max(2, e.cfg.QueueSize/4)-n)
}

// replayStep queues up to n sessions, moving the cursor past each one
// handed to the queue or gone; a session the queue refuses (full) stops
// the batch before it, to be queued when there is room.
func (e *Engine) replayStep(ctx context.Context, r *runner, st *ReplayStatus, n int) error {
	page, next, err := e.replaySrc.Page(ctx, st.Since, st.StartedAt, st.Cursor, n)
	if err != nil {
		return err
	}
	for _, entry := range page {
		s, err := e.replaySrc.Get(ctx, entry.ID)
		if err != nil {
			return err // the cursor stays: tried again
		}
		if s == nil || s.UpdatedAt.Before(st.Since) || !s.Consent.Allows(r.requires) {
			st.Skipped++
			st.Cursor = entry.Cursor
			continue
		}
		// The state, not its events: orders went out when placed.
		u := &Update{Session: *s, Changed: model.ChangeCart | model.ChangeCustomer, OccurredAt: s.UpdatedAt}
		res, err := r.q.enqueue(ctx, u, "")
		if err != nil {
			return err
		}
		if res == admitDropped {
			return nil // no room after all: this one next time
		}
		r.signal()
		st.Queued++
		st.Cursor = entry.Cursor
	}
	st.Cursor, st.LastError = next, ""
	if next == "" {
		st.State = ReplayDone
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// memReplays keeps replays in this process, for the in-memory queues.
type memReplays struct {
	mu sync.Mutex
	m  map[string]ReplayStatus
}

func (m *memReplays) load(_ context.Context, sink string) (ReplayStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.m[sink]
	if !ok {
		return ReplayStatus{Sink: sink, State: ReplayNone}, nil
	}
	return st, nil
}

func (m *memReplays) save(_ context.Context, st ReplayStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]ReplayStatus{}
	}
	m.m[st.Sink] = st
	return nil
}

func (*memReplays) lease(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

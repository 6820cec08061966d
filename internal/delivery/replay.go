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
	UpdatedSince(ctx context.Context, since time.Time, cursor string, n int) ([]string, string, error)
	Get(ctx context.Context, id string) (*model.Session, error)
}

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

// Replay timing: a batch of sessions, then a pause; a batch only while
// the sink's queue holds fewer than a quarter of its room.
var (
	replayBatch = 200
	replayPause = 50 * time.Millisecond
	replayTick  = time.Second
	replayLease = 10 * time.Second
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

// runReplay runs r's replay, if one is running and no other node holds
// it, until it is done, its lease is lost or the engine closes.
func (e *Engine) runReplay(ctx context.Context, r *runner) {
	rs := e.back.replays()
	for ctx.Err() == nil {
		st, err := rs.load(ctx, r.name)
		if err != nil || st.State != ReplayRunning {
			return
		}
		if ok, err := rs.lease(ctx, r.name, e.node, replayLease); err != nil || !ok {
			return
		}
		if !e.replayRoom(ctx, r) {
			st.UpdatedAt = time.Now().UTC()
			_ = rs.save(ctx, st)
			return // at the next tick
		}
		if err := e.replayStep(ctx, r, &st); err != nil {
			st.LastError = err.Error()
		}
		st.UpdatedAt = time.Now().UTC()
		if err := rs.save(ctx, st); err != nil || st.State == ReplayDone {
			return
		}
		sleepCtx(ctx, replayPause)
	}
}

// replayRoom reports whether the sink's queue is short enough for a batch.
func (e *Engine) replayRoom(ctx context.Context, r *runner) bool {
	n, err := r.q.pending(ctx)
	return err == nil && n < max(replayBatch, e.cfg.QueueSize/4)
}

// replayStep queues one batch.
func (e *Engine) replayStep(ctx context.Context, r *runner, st *ReplayStatus) error {
	ids, next, err := e.replaySrc.UpdatedSince(ctx, st.Since, st.Cursor, replayBatch)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s, err := e.replaySrc.Get(ctx, id)
		if err != nil || s.UpdatedAt.Before(st.Since) || !s.Consent.Allows(r.requires) {
			st.Skipped++
			continue
		}
		// The state, not its events: orders went out when placed.
		u := &Update{Session: *s, Changed: model.ChangeCart | model.ChangeCustomer, OccurredAt: s.UpdatedAt}
		if err := r.enqueue(ctx, u, ""); err != nil {
			return err
		}
		st.Queued++
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

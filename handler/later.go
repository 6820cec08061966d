package handler

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Capture's writes are made after the response, off the visitor's path:
// the shop's answer reaches the visitor at the shop's pace, however slow
// the store. A session's writes always go to one worker, so they are
// stored in the order their requests ended; a write of the visitor's
// own (collect) and a read of the session (placeholders) first wait for
// the writes queued for it (Settle).
const (
	laterWorkers = 64
	// laterDepth is each worker's queue; a full one makes the request
	// that queues wait (nothing is dropped).
	laterDepth = 64
	// drainTimeout bounds Close's wait for queued writes.
	drainTimeout = 5 * time.Second
)

type laterJob struct {
	id  string
	run func()
}

type laterWorker struct {
	jobs chan laterJob
	mu   sync.Mutex
	// pending counts each session's queued writes.
	pending map[string]int
	// waiters are told when a session's queued writes are done.
	waiters map[string][]chan struct{}
}

// later runs writes after the response, in order per session.
type later struct {
	seed    maphash.Seed
	workers [laterWorkers]laterWorker
	log     *zap.Logger
	wg      sync.WaitGroup
	// mu orders do's sends before close's closes; closed: run at once.
	mu     sync.RWMutex
	closed bool
}

func newLater(log *zap.Logger) *later {
	l := &later{seed: maphash.MakeSeed(), log: log}
	for i := range l.workers {
		w := &l.workers[i]
		w.jobs = make(chan laterJob, laterDepth)
		w.pending = map[string]int{}
		w.waiters = map[string][]chan struct{}{}
		l.wg.Go(func() { l.work(w) })
	}
	return l
}

func (l *later) worker(id string) *laterWorker {
	return &l.workers[maphash.String(l.seed, id)%laterWorkers]
}

// do queues run, a write to session id; after close, it runs it at once.
func (l *later) do(id string, run func()) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.run(laterJob{id: id, run: run})
		return
	}
	w := l.worker(id)
	w.mu.Lock()
	w.pending[id]++
	w.mu.Unlock()
	w.jobs <- laterJob{id: id, run: run}
}

func (l *later) work(w *laterWorker) {
	for j := range w.jobs {
		l.run(j)
		w.mu.Lock()
		if w.pending[j.id]--; w.pending[j.id] <= 0 {
			delete(w.pending, j.id)
			for _, c := range w.waiters[j.id] {
				close(c)
			}
			delete(w.waiters, j.id)
		}
		w.mu.Unlock()
	}
}

func (l *later) run(j laterJob) {
	defer func() {
		if v := recover(); v != nil {
			l.log.Error("a capture write panicked", zap.Any("panic", v), zap.Stack("stack"))
		}
	}()
	j.run()
}

// settle waits until the writes queued for session id are done, or ctx
// ends.
func (l *later) settle(ctx context.Context, id string) {
	w := l.worker(id)
	w.mu.Lock()
	if w.pending[id] == 0 {
		w.mu.Unlock()
		return
	}
	c := make(chan struct{})
	w.waiters[id] = append(w.waiters[id], c)
	w.mu.Unlock()
	select {
	case <-c:
	case <-ctx.Done():
	}
}

// close runs what is queued (for up to drainTimeout) and stops. Nothing
// may be queued after.
func (l *later) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	for i := range l.workers {
		close(l.workers[i].jobs)
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		l.log.Warn("capture writes still running after the drain timeout", zap.Duration("timeout", drainTimeout))
	}
}

// wait returns once every write queued before it is done (tests and
// benchmarks, which read the store right after a request).
func (l *later) wait() {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	var wg sync.WaitGroup
	for i := range l.workers {
		wg.Add(1)
		l.workers[i].jobs <- laterJob{run: wg.Done}
	}
	wg.Wait()
}

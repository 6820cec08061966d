package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// redisState is a sink's State in Redis: one key per session, living as
// long as the outbox's StateTTL after its last write.
type redisState struct {
	b      *redisBackend
	prefix string
}

func (s redisState) Get(ctx context.Context, key string) (string, bool) {
	v, err := s.b.do(ctx, s.b.c.B().Get().Key(s.prefix+key).Build()).ToString()
	if err != nil {
		if !isNil(err) {
			s.b.errs.record("state_get", err)
		}
		return "", false
	}
	return v, true
}

func (s redisState) Put(ctx context.Context, key, value string) {
	err := s.b.do(ctx, s.b.c.B().Set().Key(s.prefix+key).Value(value).Px(s.b.cfg.StateTTL).Build()).Error()
	if err != nil {
		s.b.errs.record("state_put", err)
	}
}

// errorLog logs Redis errors at most once per interval, with their count:
// while Redis is down every update fails, and a line each would flood the
// log. The first error of a quiet period starts the interval.
type errorLog struct {
	log      *zap.Logger
	interval time.Duration
	onError  func(op string) // counts each error (metrics); may be nil

	mu    sync.Mutex
	n     int
	what  string
	last  error
	timer *time.Timer
}

func newErrorLog(log *zap.Logger, interval time.Duration, onError func(op string)) *errorLog {
	return &errorLog{log: log, interval: interval, onError: onError}
}

// record notes a failed Redis call; op names it (enqueue, claim, complete,
// cancel, state_get, state_put).
func (l *errorLog) record(what string, err error) {
	if l.onError != nil {
		l.onError(what)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.what, l.last = what, err
	if l.timer == nil {
		l.timer = time.AfterFunc(l.interval, l.flush)
	}
}

func (l *errorLog) flush() {
	l.mu.Lock()
	n, what, last := l.n, l.what, l.last
	l.n, l.last = 0, nil
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	if n > 0 {
		l.log.Error("outbox: Redis errors", zap.Int("errors", n), zap.String("last_op", what), zap.Error(last))
	}
}

func isNil(err error) bool { return rueidis.IsRedisNil(err) }

package delivery

import (
	"context"
	"encoding/json"
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

// redisReplays keeps replays in Redis, per sink: the progress as JSON at
// S:replay, and the node running it at S:replay:lease.
type redisReplays struct{ b *redisBackend }

func (b *redisBackend) replays() replayStore { return redisReplays{b} }

func (r redisReplays) key(sink string) string { return r.b.cfg.Prefix + "o:" + sink + ":replay" }

func (r redisReplays) load(ctx context.Context, sink string) (ReplayStatus, error) {
	raw, err := r.b.do(ctx, r.b.c.B().Get().Key(r.key(sink)).Build()).AsBytes()
	if isNil(err) {
		return ReplayStatus{Sink: sink, State: ReplayNone}, nil
	}
	if err != nil {
		return ReplayStatus{}, err
	}
	var st replayRecord
	if err := json.Unmarshal(raw, &st); err != nil {
		return ReplayStatus{}, err
	}
	return st.status(), nil
}

func (r redisReplays) save(ctx context.Context, st ReplayStatus) error {
	b, _ := json.Marshal(recordOf(st))
	return r.b.do(ctx, r.b.c.B().Set().Key(r.key(st.Sink)).Value(string(b)).Px(r.b.cfg.StateTTL).Build()).Error()
}

// leaseScript takes the lease when free or ours, for ARGV[2] ms.
var leaseScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

func (r redisReplays) lease(ctx context.Context, sink, owner string, ttl time.Duration) (bool, error) {
	n, err := r.b.exec(ctx, leaseScript, []string{r.key(sink) + ":lease"}, []string{owner, ms(ttl)}).AsInt64()
	return n == 1, err
}

// replayRecord is ReplayStatus as kept, cursor included.
type replayRecord struct {
	ReplayStatus
	Cursor string `json:"cursor"`
}

func recordOf(st ReplayStatus) replayRecord { return replayRecord{ReplayStatus: st, Cursor: st.Cursor} }

func (r replayRecord) status() ReplayStatus {
	st := r.ReplayStatus
	st.Cursor = r.Cursor
	return st
}

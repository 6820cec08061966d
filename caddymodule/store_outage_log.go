package caddymodule

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// outageLogInterval is the least time between two lines of one store's
// outage log.
var outageLogInterval = 10 * time.Second

// outageLog logs a store's outage as a few lines, not one per request: the
// first failure at once, then at most a line per interval with the number
// of failed calls since the last line and the last error, and a line when
// the store answers again. Lines hold the store's name, an operation and
// an error about the connection: never a session's contents.
type outageLog struct {
	store    string
	interval time.Duration

	mu       sync.Mutex
	logger   func() *zap.Logger
	last     time.Time // of the last line
	failures int       // since the last line
	op       string    // of the last failure tried on the store, this outage
	err      string
	down     bool // a line said unavailable, none since said answering
	back     bool // the latest call got an answer
	timer    *time.Timer
	// listening is true while an answer would change what is to be
	// logged, so that calls on a healthy store never take the lock.
	listening atomic.Bool
}

func newOutageLog(store string) *outageLog {
	return &outageLog{store: store, interval: outageLogInterval, logger: func() *zap.Logger {
		// The running config's logger, not the one of the config that
		// created the store: the store outlives reloads.
		return caddy.Log().Named("sessiontap.stores.redis")
	}}
}

// setLogger replaces the logger, for tests.
func (l *outageLog) setLogger(log *zap.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logger = func() *zap.Logger { return log }
}

// failed records a call that found the store unavailable; tried is false
// for one the breaker refused, whose error says nothing new.
func (l *outageLog) failed(op string, err error, tried bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if tried || l.err == "" {
		l.op, l.err = op, err.Error()
	}
	l.back = false
	l.writeLocked()
}

// answered records a call the store answered.
func (l *outageLog) answered() {
	if !l.listening.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.back = true
	l.writeLocked()
}

// writeLocked writes a line if there is one to write and the interval
// allows, else makes sure a timer will.
func (l *outageLog) writeLocked() {
	defer func() { l.listening.Store(!l.back && (l.failures > 0 || l.down)) }()
	if l.failures == 0 && (!l.down || !l.back) {
		return
	}
	if wait := time.Until(l.last.Add(l.interval)); wait > 0 {
		if l.timer == nil {
			l.timer = time.AfterFunc(wait, l.tick)
		}
		return
	}
	l.lineLocked()
}

func (l *outageLog) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.writeLocked()
}

// lineLocked writes one line about what happened since the last.
func (l *outageLog) lineLocked() {
	if l.failures > 0 {
		l.logger().Error("session store unavailable: sessions are not read or stored, visitors are served without them",
			zap.String("store", l.store), zap.Int("failed_calls", l.failures), zap.Duration("interval", l.interval),
			zap.String("last_op", l.op), zap.String("last_error", l.err), zap.Bool("answering_again", l.back))
		l.down = !l.back
	} else {
		l.logger().Info("session store answering again", zap.String("store", l.store))
		l.down = false
	}
	if !l.down {
		// The last error is kept while the outage goes on: an interval of
		// refused calls only has nothing newer to show.
		l.op, l.err = "", ""
	}
	l.failures = 0
	l.last = time.Now()
}

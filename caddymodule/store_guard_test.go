package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// flakyStore is a store that is down while down is set: its calls then
// take delay and fail with ErrUnavailable, as a hung Redis's do.
type flakyStore struct {
	cache.Store
	down  atomic.Bool
	delay time.Duration
	calls atomic.Int64
}

func (f *flakyStore) Get(ctx context.Context, id string) (*model.Session, error) {
	f.calls.Add(1)
	if f.down.Load() {
		time.Sleep(f.delay)
		return nil, fmt.Errorf("redis: reading session: %w: context deadline exceeded", cache.ErrUnavailable)
	}
	return nil, cache.ErrNotFound
}

func (f *flakyStore) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	s := &model.Session{ID: id}
	return s, fn(s)
}

// observed is a guarded flaky store whose outage log goes to an observer.
func observed(t *testing.T, interval time.Duration) (*guardedStore, *flakyStore, *observer.ObservedLogs) {
	f := &flakyStore{delay: 20 * time.Millisecond}
	g := newGuardedStore(f, "guard-test-"+t.Name())
	g.log.interval = interval
	core, logs := observer.New(zapcore.InfoLevel)
	g.log.setLogger(zap.New(core))
	return g, f, logs
}

// While the store is down, once breakerThreshold calls in a row failed,
// one call per cooldown tries it and the others fail at once; every
// failure is counted; once it is back the breaker closes by itself.
func TestGuardedStoreBreaker(t *testing.T) {
	g, f, _ := observed(t, time.Hour)
	ctx := context.Background()
	f.down.Store(true)
	for i := range breakerThreshold {
		if _, err := g.Get(ctx, "a"); !errors.Is(err, cache.ErrUnavailable) || errors.Is(err, errFailFast) {
			t.Fatalf("down, call %d: %v", i+1, err)
		}
	}
	start := time.Now()
	for range 100 {
		if _, err := g.Get(ctx, "a"); !errors.Is(err, errFailFast) {
			t.Fatalf("within the cooldown: %v", err)
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond || f.calls.Load() != breakerThreshold {
		t.Errorf("100 calls in the cooldown took %s and reached the store %d times", d, f.calls.Load()-breakerThreshold)
	}
	if n := storeErrorCount(t, g.name, "get"); n != 100+breakerThreshold {
		t.Errorf("store_errors_total{op=get} %v, want %d", n, 100+breakerThreshold)
	}

	// After the cooldown, one probe at a time; the rest still fail fast.
	time.Sleep(breakerCooldown)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { g.Get(ctx, "a") })
	}
	wg.Wait()
	if n := f.calls.Load(); n != breakerThreshold+1 {
		t.Errorf("%d calls reached the store after the cooldown, want the one probe", n-breakerThreshold)
	}
	f.down.Store(false)
	time.Sleep(breakerCooldown)
	if _, err := g.Get(ctx, "a"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("back: %v", err)
	}
	if _, err := g.Get(ctx, "a"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("the breaker did not close: %v", err)
	}
}

// One slow call, or a few not in a row, open nothing: the next calls go
// to the store.
func TestGuardedStoreOneSlowCallOpensNothing(t *testing.T) {
	g, f, _ := observed(t, time.Hour)
	ctx := context.Background()
	for round := range 5 {
		f.down.Store(true)
		for range breakerThreshold - 1 {
			g.Get(ctx, "a")
		}
		f.down.Store(false)
		if _, err := g.Get(ctx, "a"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("round %d: after %d failures in a row: %v", round, breakerThreshold-1, err)
		}
	}
	if n := f.calls.Load(); n != 5*breakerThreshold {
		t.Errorf("%d calls reached the store, want all %d", n, 5*breakerThreshold)
	}
}

// Answers about the session and the caller's own errors are no failures.
func TestGuardedStoreCountsOnlyFailures(t *testing.T) {
	g, f, logs := observed(t, time.Hour)
	ctx := context.Background()
	g.Get(ctx, "a") // ErrNotFound
	mine := errors.New("version conflict")
	if _, err := g.Update(ctx, "a", func(*model.Session) error { return mine }); err != mine {
		t.Fatal(err)
	}
	// A caller that gave up while the store is down (cache reports its
	// deadline as unavailable): not counted, and the breaker stays closed.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	f.down.Store(true)
	g.Get(cancelled, "a")
	f.down.Store(false)
	before := f.calls.Load()
	if _, err := g.Get(ctx, "a"); !errors.Is(err, cache.ErrNotFound) || f.calls.Load() != before+1 {
		t.Errorf("after a caller gave up, the next call was %v and reached the store %d times: the breaker opened",
			err, f.calls.Load()-before)
	}
	for _, op := range []string{"get", "update"} {
		if n := storeErrorCount(t, g.name, op); n != 0 {
			t.Errorf("%s: %v failures counted", op, n)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("logged: %v", logs.All())
	}
}

// However many calls fail, the outage log writes at most a line per
// interval, and the lines add up to every failure; the store answering
// again is said too.
func TestOutageLogRate(t *testing.T) {
	const interval = 150 * time.Millisecond
	l := newOutageLog("rate-test")
	l.interval = interval
	core, logs := observer.New(zapcore.InfoLevel)
	l.setLogger(zap.New(core))
	var wg sync.WaitGroup
	failures := 0
	for end := time.Now().Add(4 * interval); time.Now().Before(end); failures += 4 {
		for range 4 {
			wg.Go(func() { l.failed("update", errors.New("dial tcp 127.0.0.1:1: connection refused"), true) })
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	l.answered()
	waitFor(t, "the line saying the store answers", func() bool {
		ls := logs.All()
		last := ls[len(ls)-1]
		return last.Message == "session store answering again" || last.ContextMap()["answering_again"] == true
	})
	lines := logs.All()
	if len(lines) > 6 {
		t.Errorf("%d lines for 4 intervals", len(lines))
	}
	sum := int64(0)
	for i, e := range lines {
		n, _ := e.ContextMap()["failed_calls"].(int64)
		sum += n
		if i > 0 && e.Time.Sub(lines[i-1].Time) < interval-5*time.Millisecond {
			t.Errorf("line %d came %s after the one before", i, e.Time.Sub(lines[i-1].Time))
		}
	}
	if sum != int64(failures) {
		t.Errorf("lines count %d failures, there were %d", sum, failures)
	}
}

// storeErrorCount reads caddy_sessiontap_store_errors_total{store, op}.
func storeErrorCount(t *testing.T, store, op string) float64 {
	t.Helper()
	var m dto.Metric
	if err := storeErrors.WithLabelValues(store, op).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

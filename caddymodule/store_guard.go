package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// breakerCooldown is how long calls fail at once after the breaker
// opened, before one call at a time tries the store again.
var breakerCooldown = 250 * time.Millisecond

// breakerThreshold is how many calls in a row must find the store
// unavailable for the breaker to open: one slow call (a CPU stall on a
// busy machine, a slow fork for a snapshot) is not an outage.
const breakerThreshold = 3

// errFailFast is what a call gets while the breaker is open.
var errFailFast = fmt.Errorf("%w: not tried, a call a moment ago found it so", cache.ErrUnavailable)

// guardedStore is a shared store (Redis) as the handler, the API, the
// placeholders and the feedback writer use it. It counts failed calls in
// caddy_sessiontap_store_errors_total, logs outages at a rate instead of
// once per request (outageLog), and trips a breaker: once
// breakerThreshold calls in a row found the store unavailable, calls fail
// at once for breakerCooldown, so that a dead store does not cost every
// call a timeout.
type guardedStore struct {
	cache.Store
	name    string
	breaker breaker
	log     *outageLog
	// durations are storeDuration's series of this store, by operation.
	durations map[string]prometheus.Observer
}

func newGuardedStore(s cache.Store, name string) *guardedStore {
	g := &guardedStore{Store: s, name: name, breaker: breaker{cooldown: breakerCooldown}, log: newOutageLog(name),
		durations: map[string]prometheus.Observer{}}
	// Looked up once, not per call: every page view makes store calls.
	for _, op := range []string{"get", "update", "delete", "range", "linked", "updated_since"} {
		g.durations[op] = storeDuration.WithLabelValues(name, op)
	}
	return g
}

func (g *guardedStore) Get(ctx context.Context, id string) (*model.Session, error) {
	return guard(g, ctx, "get", nil, func() (*model.Session, error) { return g.Store.Get(ctx, id) })
}

func (g *guardedStore) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	// fn's own error (a 409 of the session-context API) is the caller's
	// answer, not a store failure.
	var fnErr error
	return guard(g, ctx, "update", &fnErr, func() (*model.Session, error) {
		return g.Store.Update(ctx, id, func(s *model.Session) error { fnErr = fn(s); return fnErr })
	})
}

func (g *guardedStore) Delete(ctx context.Context, id string) error {
	_, err := guard(g, ctx, "delete", nil, func() (struct{}, error) { return struct{}{}, g.Store.Delete(ctx, id) })
	return err
}

func (g *guardedStore) Range(ctx context.Context, fn func(*model.Session) bool) error {
	_, err := guard(g, ctx, "range", nil, func() (struct{}, error) { return struct{}{}, g.Store.Range(ctx, fn) })
	return err
}

func (g *guardedStore) UpdatedSince(ctx context.Context, since, until time.Time, cursor string, n int) ([]cache.Updated, string, error) {
	type page struct {
		list []cache.Updated
		next string
	}
	p, err := guard(g, ctx, "updated_since", nil, func() (page, error) {
		list, next, err := g.Store.UpdatedSince(ctx, since, until, cursor, n)
		return page{list, next}, err
	})
	return p.list, p.next, err
}

func (g *guardedStore) Linked(ctx context.Context, ref string) ([]*model.Session, error) {
	return guard(g, ctx, "linked", nil, func() ([]*model.Session, error) { return g.Store.Linked(ctx, ref) })
}

// guard runs call unless the breaker is open, and records how it went.
// fnErr, when not nil, holds the error an Update's function returned.
func guard[T any](g *guardedStore, ctx context.Context, op string, fnErr *error, call func() (T, error)) (T, error) {
	probe, err := g.breaker.allow()
	if err != nil {
		g.failed(op, err, false)
		var zero T
		return zero, err
	}
	start := time.Now()
	v, err := call()
	g.durations[op].Observe(time.Since(start).Seconds())
	// A caller that gave up says nothing about the store: it neither
	// opens the breaker nor closes it.
	gaveUp := ctx.Err() != nil
	down := errors.Is(err, cache.ErrUnavailable) && !gaveUp
	answered := !down && !gaveUp
	g.breaker.settle(probe, down, answered)
	switch {
	case storeFault(ctx, err, fnErr):
		g.failed(op, err, true)
	case answered:
		g.log.answered()
	}
	return v, err
}

// failed counts a failed call, and logs it at a rate when the store was
// unavailable; other failures are bugs, which the caller logs each time.
func (g *guardedStore) failed(op string, err error, tried bool) {
	storeErrors.WithLabelValues(g.name, op).Inc()
	if errors.Is(err, cache.ErrUnavailable) {
		g.log.failed(op, err, tried)
	} else {
		g.log.answered()
	}
}

// storeFault reports an error that is the store's failure, not an answer
// about the session (not found, too large), the Update function's own
// error, or the caller giving up.
func storeFault(ctx context.Context, err error, fnErr *error) bool {
	switch {
	case err == nil, errors.Is(err, cache.ErrNotFound), errors.Is(err, cache.ErrTooLarge):
		return false
	case fnErr != nil && *fnErr != nil && errors.Is(err, *fnErr):
		return false
	}
	return ctx.Err() == nil
}

// breaker fails calls at once for a cooldown after threshold calls in a
// row found the store unavailable; then lets one call at a time through
// (a probe) until one gets an answer. A dead store costs a few calls a
// timeout, not every call; a store that is back is used again within the
// cooldown; a single slow call opens nothing.
type breaker struct {
	cooldown  time.Duration
	threshold int32        // 0: breakerThreshold
	openUntil atomic.Int64 // UnixNano; 0 while closed
	probing   atomic.Bool
	failures  atomic.Int32 // in a row
}

// allow says whether a call may go to the store, and whether it is the
// probe (which must then be settled).
func (b *breaker) allow() (probe bool, err error) {
	until := b.openUntil.Load()
	if until == 0 {
		return false, nil
	}
	if time.Now().UnixNano() < until || !b.probing.CompareAndSwap(false, true) {
		return false, errFailFast
	}
	return true, nil
}

// settle records a call's outcome: the threshold-th failure in a row (or
// a failed probe) opens the breaker, an answer closes it; a call the
// caller gave up on says neither.
func (b *breaker) settle(probe, down, answered bool) {
	threshold := b.threshold
	if threshold <= 0 {
		threshold = breakerThreshold
	}
	switch {
	case down:
		// A failed probe opens it again at once.
		if b.failures.Add(1) >= threshold || probe {
			b.openUntil.Store(time.Now().Add(b.cooldown).UnixNano())
		}
	case answered:
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		if b.openUntil.Load() != 0 {
			b.openUntil.Store(0)
		}
	}
	if probe {
		b.probing.Store(false)
	}
}

var _ cache.Store = (*guardedStore)(nil)

// Secret passes the store's secrets through (cache.Secrets), unguarded:
// it is read once while provisioning, not on a visitor's request.
func (g *guardedStore) Secret(ctx context.Context, name string) ([]byte, error) {
	keeper, ok := g.Store.(cache.Secrets)
	if !ok {
		return nil, errors.New("the store keeps no secrets")
	}
	return keeper.Secret(ctx, name)
}

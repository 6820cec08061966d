package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/api"
	"github.com/sessiontap/caddy-sessiontap/internal/bus"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// hubs ties together the handlers of this process that share a session
// store. Every write to the store's sessions is published once on the
// hub's bus, whoever made it (the visitor's path, the session-context
// API, an upstream's feedback); the delivery engines and the live feeds
// subscribe there for as long as they live, and the operator handler
// (sessiontap_api) asks the visitor handlers (sessiontap) of the same
// store for their engines' status. The two are provisioned in no set
// order (each site's server on its own), so every lookup happens when it
// is used, never at Provision.
var hubs sync.Map // storeIdentity -> *hub

type hub struct {
	// changes carries every write that changed a session of the store.
	changes bus.Bus[change]
	// erased carries the ids of sessions erased (GDPR).
	erased bus.Bus[string]
	// attempts carries every delivery attempt's outcome.
	attempts bus.Bus[attempt]

	mu sync.Mutex
	// visitors are the provisioned visitor handlers, newest last: during
	// a reload the new config's come after the old one's.
	visitors []*Handler
}

// change is a write as the bus carries it: engine is the key of the
// delivery engine that forwards it, that of the visitor handler that
// made it; "" for writes no sink takes (the API's, upstream feedback).
type change struct {
	model.SessionChange
	engine string
}

// attempt is one delivery attempt's outcome.
type attempt struct {
	sink, id string
	version  uint64
	outcome  string
}

// hubOf is the hub of a store module's sessions.
func hubOf(mod any) *hub {
	if v, ok := hubs.Load(storeIdentity(mod)); ok {
		return v.(*hub)
	}
	b := new(hub)
	// For the process's life, as the hub's: the metric is process-wide.
	b.changes.Subscribe(countWrite)
	v, loaded := hubs.LoadOrStore(storeIdentity(mod), b)
	if loaded {
		// Another got there first; this one was never seen.
		return v.(*hub)
	}
	return b
}

// storeIdentity names the sessions a store module holds: the embedded
// store's name, or Redis's addresses and key prefix, whatever else (a
// timeout, a password's spelling) two configs set differently.
func storeIdentity(mod any) any {
	switch m := mod.(type) {
	case *BigcacheStore:
		return "bigcache/" + m.Name
	case *RedisStore:
		rc := m.store.Config()
		addrs := slices.Sorted(slices.Values(rc.Addresses))
		if len(rc.Sentinels) > 0 {
			addrs = append(slices.Sorted(slices.Values(rc.Sentinels)), "master "+rc.MasterName)
		}
		return fmt.Sprintf("redis/%q/%q", addrs, rc.Prefix)
	}
	return storeOf(mod)
}

func (b *hub) addVisitor(h *Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.visitors = append(b.visitors, h)
}

func (b *hub) removeVisitor(h *Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.visitors = slices.DeleteFunc(b.visitors, func(v *Handler) bool { return v == h })
}

// attempted publishes a delivery attempt's outcome.
func (b *hub) attempted(sink, id string, version uint64, outcome string) {
	b.attempts.Publish(attempt{sink: sink, id: id, version: version, outcome: outcome})
}

// newest is the newest visitor handler, or nil.
func (b *hub) newest() *Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.visitors); n > 0 {
		return b.visitors[n-1]
	}
	return nil
}

// engines are the visitors' delivery engines, each once, newest first.
func (b *hub) engines() []delivery.Deliverer {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []delivery.Deliverer
	for _, v := range slices.Backward(b.visitors) {
		if v.engine != nil && !slices.Contains(out, v.engine) {
			out = append(out, v.engine)
		}
	}
	return out
}

// handlers are the visitors' request handlers, for their capture counts.
func (b *hub) visitorList() []*Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.visitors)
}

// settleWait bounds how long a read waits for the writes queued for its
// session.
const settleWait = 2 * time.Second

// settle waits until this process's visitor handlers have stored the
// writes they queued for session id (see handler.Handler.Settle).
func (b *hub) settle(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	for _, v := range b.visitorList() {
		if v.handler != nil {
			v.handler.Settle(ctx, id)
		}
	}
}

// history is how many changes a session keeps, as the newest visitor
// handler says; the default without one.
func (b *hub) history() int {
	if v := b.newest(); v != nil {
		return v.historySize()
	}
	return model.DefaultMaxHistory
}

// refHash is a customer reference's pseudonym as the sinks get it, or ""
// when no visitor handler uses the store.
func (b *hub) refHash(ref string) string {
	if v := b.newest(); v != nil && v.hasher != nil {
		return v.hasher.Hash(ref)
	}
	return ""
}

// deliveries is each sink's status of a session, from every engine.
func (b *hub) deliveries(ctx context.Context, id string) ([]delivery.DeliveryStatus, error) {
	out := []delivery.DeliveryStatus{}
	for _, e := range b.engines() {
		sts, err := e.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, sts...)
	}
	return out, nil
}

// replay starts a replay to sink, on the engine that has it.
func (b *hub) replay(ctx context.Context, sink string, since time.Time) (any, error) {
	return b.onSink(sink, func(e delivery.Deliverer) (any, error) { return e.Replay(ctx, sink, since) })
}

// replayStatus reads sink's replay.
func (b *hub) replayStatus(ctx context.Context, sink string) (any, error) {
	return b.onSink(sink, func(e delivery.Deliverer) (any, error) { return e.ReplayStatus(ctx, sink) })
}

// onSink runs f on the engine that has sink, with the API's errors.
func (b *hub) onSink(sink string, f func(delivery.Deliverer) (any, error)) (any, error) {
	for _, e := range b.engines() {
		st, err := f(e)
		switch {
		case errors.Is(err, delivery.ErrUnknownSink):
			continue
		case errors.Is(err, delivery.ErrReplayRunning):
			return st, api.ErrReplayRunning
		}
		return st, err
	}
	return nil, api.ErrUnknownSink
}

// retry retries one sink's delivery of the session as it is stored now,
// with the engine that has that sink.
func (b *hub) retry(ctx context.Context, store cache.Store, id, sink string) (string, error) {
	s, err := store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	u := &delivery.Update{Session: *s, Changed: model.ChangeCart | model.ChangeCustomer | model.ChangeOrder, OccurredAt: s.UpdatedAt}
	for _, e := range b.engines() {
		res, err := e.Retry(ctx, sink, u)
		if !errors.Is(err, delivery.ErrUnknownSink) {
			return res, err
		}
	}
	return "", delivery.ErrUnknownSink
}

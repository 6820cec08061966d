package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// hubs ties together the handlers of this process that share a session
// store: the operator handler (sessiontap_api) shows and retries what the
// visitor handlers (sessiontap) of the same store deliver, and they
// publish their changes to the live feed it serves. The two are
// provisioned in no set order (each site's server on its own), so every
// lookup happens when it is used, never at Provision.
var hubs sync.Map // storeIdentity -> *hub

type hub struct {
	mu sync.Mutex
	// visitors are the provisioned visitor handlers, newest last: during
	// a reload the new config's come after the old one's.
	visitors []*Handler
	// feeds are the operator handlers' live feeds, newest last.
	feeds []feed.Feed
	// feed is the newest of feeds, read on the request path.
	feed atomic.Pointer[feed.Feed]
}

// hubOf is the hub of a store module's sessions.
func hubOf(mod any) *hub {
	v, _ := hubs.LoadOrStore(storeIdentity(mod), new(hub))
	return v.(*hub)
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

func (b *hub) addFeed(f feed.Feed) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.feeds = append(b.feeds, f)
	b.feed.Store(&f)
}

// removeFeed forgets one use of f (an operator config's); the feed itself
// is pooled and may well live on in the next config.
func (b *hub) removeFeed(f feed.Feed) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.feeds, f); i >= 0 {
		b.feeds = slices.Delete(b.feeds, i, i+1)
	}
	if n := len(b.feeds); n > 0 {
		b.feed.Store(&b.feeds[n-1])
	} else {
		b.feed.Store(nil)
	}
}

// publish puts a change on the live feed, when an operator handler serves
// one. It runs on the request path; Publish never blocks.
func (b *hub) publish(s *model.Session, e model.HistoryEntry) {
	if f := b.feed.Load(); f != nil {
		(*f).Publish(feed.EventOf(s, e, nodeName))
	}
}

// attempt tells the live feed of a delivery attempt.
func (b *hub) attempt(sink, id string, version uint64, outcome string) {
	if f := b.feed.Load(); f != nil {
		(*f).Publish(feed.DeliveryOf(sink, id, version, outcome, nodeName))
	}
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

// cancel drops a session's pending deliveries from every engine.
func (b *hub) cancel(id string) {
	for _, e := range b.engines() {
		e.Cancel(id)
	}
}

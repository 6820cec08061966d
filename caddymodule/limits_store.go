package caddymodule

import (
	"context"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// boundedStore is the shared store as one config writes to it: every
// Update carries the config's session_size, so that handlers sharing a
// store may bound sessions differently. Feedback and the API write
// through it too: a session that upstream feedback took past the bound
// would refuse the visitor's next cart change.
type boundedStore struct {
	cache.Store
	limit int
}

func (b boundedStore) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	return b.Store.Update(cache.WithSizeLimit(ctx, b.limit), id, fn)
}

// sharedStore is the store module's own store, which this config's
// bounded view wraps: pools key on it, so that configs that share the
// store share the engine and feed whatever their bounds.
func (h *Handler) sharedStore() cache.Store {
	if p, ok := h.storeMod.(StoreProvider); ok {
		return p.SessionStore()
	}
	return nil // not provisioned
}

// hubStore is the shared store as the operator handler writes to it
// (session contexts): bounded as the newest visitor handler of the store
// bounds sessions, or by the default size without one.
type hubStore struct {
	cache.Store
	hub *hub
}

// Get reads the session once this node's visitor handlers have stored
// the captures they queued for it: an operator reading a session right
// after a page sees that page.
func (b hubStore) Get(ctx context.Context, id string) (*model.Session, error) {
	b.hub.settle(ctx, id)
	return b.Store.Get(ctx, id)
}

func (b hubStore) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	// After the visitor's own queued writes, as they would be on its path.
	b.hub.settle(ctx, id)
	limit := defaultSessionSize
	if v := b.hub.newest(); v != nil {
		limit = int(v.limits().SessionSize)
	}
	return b.Store.Update(cache.WithSizeLimit(ctx, limit), id, fn)
}

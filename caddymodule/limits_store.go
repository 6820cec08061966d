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

func (b hubStore) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	limit := defaultSessionSize
	if v := b.hub.newest(); v != nil {
		limit = int(v.limits().SessionSize)
	}
	return b.Store.Update(cache.WithSizeLimit(ctx, limit), id, fn)
}

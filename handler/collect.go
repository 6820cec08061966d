package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// collectView is the collect endpoint's answer: the session's new state.
type collectView struct {
	ID       string         `json:"id"`
	Version  uint64         `json:"version"`
	Cart     model.Cart     `json:"cart"`
	Customer model.Customer `json:"customer"`
	PageType model.PageType `json:"page_type,omitempty"`
}

// collect serves the first-party collect endpoint.
func (h *Handler) collect(w http.ResponseWriter, r *http.Request, id Identity) {
	if r.Method != http.MethodPost {
		respond.MethodNotAllowed(w, http.MethodPost)
		return
	}
	if !h.allowCollect(w, r, id) {
		return
	}
	// SameSite=Lax keeps our cookie off cross-site POSTs, but an external id
	// cookie may not be Lax: refuse writes a browser marks as cross-site.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		respond.Error(w, http.StatusForbidden, "cross-site collect requests are refused")
		return
	}
	patch, ferr := decodeCollect(http.MaxBytesReader(w, r.Body, h.collectBody()))
	if ferr != nil {
		h.log.Debug("collect request refused", zap.String("field", ferr.Field))
		writeFieldError(w, ferr)
		return
	}
	if !id.Tracked {
		// The visitor opted out: accepted and forgotten.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s, err := h.apply(r.Context(), id.ID, patch, model.SourceCollect, "")
	if errors.Is(err, cache.ErrTooLarge) {
		h.log.Warn("collect refused: the session would be too large", zap.String("session_id", id.ID), zap.Error(err))
		respond.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the session would be larger than %d bytes; nothing was stored", h.sessionSize()))
		return
	}
	if errors.Is(err, cache.ErrUnavailable) {
		h.log.Debug("collect refused: the session store is unavailable", zap.String("session_id", id.ID), zap.Error(err))
		respond.Unavailable(w, "the session store is unavailable; nothing was stored, try again later")
		return
	}
	if err != nil {
		h.log.Error("storing session failed", zap.String("session_id", id.ID), zap.Error(err))
		respond.Error(w, http.StatusInternalServerError, "the session could not be stored")
		return
	}
	respond.JSON(w, http.StatusOK, collectView{
		ID: s.ID, Version: s.Version, Cart: s.Cart, Customer: s.Customer, PageType: s.PageType,
	})
}

// apply writes patch to the session, skipping the write when it changes
// nothing so that versions only move for real changes, records the change
// in the session's history (with where it came from and the page's path),
// and hands what was stored to OnStored (the upstream delivery) with what
// changed, to OnChange, and to OnSession.
func (h *Handler) apply(ctx context.Context, id string, p model.Patch, src model.Source, path string) (*model.Session, error) {
	var changed model.Change
	var entry model.HistoryEntry
	s, err := h.store.Update(ctx, id, func(s *model.Session) error {
		// A distributed store may call fn again after a conflict: what
		// an earlier call found must not outlive it.
		changed = 0
		before := snapshotOf(s)
		if !p.Apply(s) {
			return cache.ErrNoChange
		}
		changed = before.diff(s, p)
		if changed != 0 {
			// The store sets the version and time after fn: the entry
			// takes the ones this write will get.
			entry = s.Record(model.HistoryEntry{Version: s.Version + 1, At: h.now().UTC(), Source: src, Changes: changed, Path: path}, h.cfg.History)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed != 0 && h.cfg.OnStored != nil {
		h.cfg.OnStored(ctx, s, changed)
	}
	if changed != 0 && h.cfg.OnChange != nil {
		h.cfg.OnChange(s, entry)
	}
	if h.cfg.OnSession != nil {
		h.cfg.OnSession(ctx, s)
	}
	return s, nil
}

// snapshot is what a change is measured against.
type snapshot struct {
	cart     model.Cart
	customer model.Customer
	orders   int
}

func snapshotOf(s *model.Session) snapshot {
	// Cloned: Patch.Lines edits cart lines in place.
	return snapshot{cart: model.Cart{Items: slices.Clone(s.Cart.Items)}, customer: s.Customer, orders: len(s.Orders)}
}

func (b snapshot) diff(s *model.Session, p model.Patch) model.Change {
	var c model.Change
	if !b.cart.Equal(s.Cart) {
		c |= model.ChangeCart
	}
	if b.customer != s.Customer {
		c |= model.ChangeCustomer
	}
	if b.orders != len(s.Orders) {
		c |= model.ChangeOrder
	}
	if p.Action != "" || p.PageType != "" {
		c |= model.ChangeAction
	}
	return c
}

// storeFailed logs a capture's or a page view's failed write. An
// unavailable store fails every request until it is back, so it is logged
// at Debug only: whoever runs the store counts and logs outages at a rate
// (the Caddy glue wraps it).
func (h *Handler) storeFailed(msg, id string, err error) {
	if errors.Is(err, cache.ErrUnavailable) {
		h.log.Debug(msg, zap.String("session_id", id), zap.Error(err))
		return
	}
	h.log.Error(msg, zap.String("session_id", id), zap.Error(err))
}

// errorsAs is errors.As with the target made for the caller.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}

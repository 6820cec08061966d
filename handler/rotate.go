package handler

import (
	"context"
	"errors"
	"net/http"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// rotates reports whether a verified customer posted to a session under
// one of our own ids is a login: a verified identity the session did not
// have. The session then moves to a fresh id, the standard defence against
// fixation: whoever held the old id (a cookie tossed in by a sibling
// subdomain, say) is left holding an empty one.
func (h *Handler) rotates(ctx context.Context, id Identity, c *model.Customer) (*model.Session, bool) {
	if c == nil || !c.Verified || (id.Source != "cookie" && id.Source != "new") {
		return nil, false
	}
	old, err := h.store.Get(ctx, id.ID)
	if err != nil {
		// Not stored yet (nothing to take over), or unreadable (the write
		// that follows will say so).
		return nil, false
	}
	o := old.Customer
	return old, !o.Verified || o.CustomerReference != c.CustomerReference || o.Email != c.Email
}

// rotate copies old to a fresh id, deletes it under its old one and sets
// the visitor's cookie to the new id, which the write then goes to.
func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, id Identity, old *model.Session) (Identity, http.ResponseWriter, error) {
	fresh := model.NewID()
	_, err := h.store.Update(r.Context(), fresh, func(s *model.Session) error {
		*s = *old
		s.ID = fresh
		return nil
	})
	if err != nil {
		return id, w, err
	}
	if err := h.store.Delete(r.Context(), id.ID); err != nil && !errors.Is(err, cache.ErrNotFound) {
		return id, w, err
	}
	return Identity{ID: fresh, Source: "new", Tracked: true}, h.setCookie(w, r, fresh, h.day()), nil
}

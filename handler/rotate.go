package handler

import (
	"context"
	"errors"
	"net/http"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// rotates reports whether a customer a token verified, posted to a session
// under one of our own ids, is a login: a customer the session has not
// moved for yet (LoginRef), even if the page's tagging already stated it.
// The session then moves to a fresh id, the standard defence against
// fixation: whoever held the old id (a cookie tossed in by a sibling
// subdomain, say) is left holding an empty one.
func (h *Handler) rotates(ctx context.Context, id Identity, c *model.Customer) (*model.Session, bool) {
	if c == nil || !c.Verified || (id.Source != "cookie" && id.Source != "new") {
		return nil, false
	}
	h.settle(ctx, id.ID)
	old, err := h.store.Get(ctx, id.ID)
	if err != nil {
		// Not stored yet (nothing to take over), or unreadable (the write
		// that follows will say so).
		return nil, false
	}
	return old, old.LoginRef != c.CustomerReference
}

// rotate copies old to a fresh id, erases it under its old one (what the
// old id had queued is cancelled: it is a key the visitor no longer holds
// alone) and sets the visitor's cookie to the new id, which the write
// then goes to. Both go through the session service; the copy records no
// change of its own.
func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, id Identity, old *model.Session, ref string) (Identity, http.ResponseWriter, error) {
	fresh := model.NewID()
	_, _, err := h.sessions.Write(r.Context(), fresh, model.SourceCollect, "", func(s *model.Session) (model.Change, error) {
		*s = *old
		s.ID = fresh
		s.LoginRef = ref
		if o := old.Customer; o.Verified && o.CustomerReference != ref {
			// Another customer's session: their orders are not the new
			// customer's to carry, nor to see in a takeout.
			s.Orders = nil
		}
		return 0, nil
	})
	if err != nil {
		return id, w, err
	}
	if err := h.sessions.Erase(r.Context(), id.ID); err != nil && !errors.Is(err, cache.ErrNotFound) {
		return id, w, err
	}
	return Identity{ID: fresh, Source: "new", Tracked: true}, h.setCookie(w, r, fresh, h.day()), nil
}

package api

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// customerSessions serves {prefix}/customers/{customer_reference}/sessions:
// GET is a GDPR takeout of every session linked to that customer, DELETE
// redacts them all and cancels their pending deliveries (linked:
// Session.LinkedTo). The bigcache store scans for them: operator work, not
// the request path.
func (a *API) customerSessions(w http.ResponseWriter, r *http.Request, rest string) {
	ref, ok := strings.CutSuffix(rest, "/sessions")
	if !ok || ref == "" || len(ref) > model.MaxIDLength {
		respond.Error(w, http.StatusNotFound, "no such API route")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		respond.MethodNotAllowed(w, "GET, DELETE")
		return
	}
	linked, err := a.store.Linked(r.Context(), ref)
	if err != nil {
		a.storeError(w, err, "reading the customer's sessions failed", nil)
		return
	}
	if r.Method == http.MethodGet {
		respond.JSON(w, http.StatusOK, map[string]any{"customer_reference": ref, "sessions": nonNil(linked)})
		return
	}
	deleted, err := a.deleteAll(r, linked)
	// Counts and ids only: the reference itself is personal data.
	a.log.Info("customer's sessions deleted through the API", zap.Int("sessions", deleted))
	if err != nil {
		// Sessions are left: the request must be retried, not filed as done.
		a.storeError(w, err, "deleting the customer's sessions failed", map[string]any{"deleted": deleted})
		return
	}
	respond.JSON(w, http.StatusOK, map[string]int{"deleted": deleted})
}

// deleteAll deletes the sessions and cancels their deliveries, stopping
// at the first store failure; one gone meanwhile is not one.
func (a *API) deleteAll(r *http.Request, linked []*model.Session) (int, error) {
	deleted := 0
	for _, s := range linked {
		err := a.store.Delete(r.Context(), s.ID)
		a.cancel(s.ID)
		switch {
		case err == nil:
			deleted++
		case !errors.Is(err, cache.ErrNotFound):
			return deleted, err
		}
	}
	return deleted, nil
}

func nonNil(s []*model.Session) []*model.Session {
	if s == nil {
		return []*model.Session{}
	}
	return s
}

// cancel drops the session's pending upstream deliveries, if any.
func (a *API) cancel(id string) {
	if a.onDelete != nil {
		a.onDelete(id)
	}
}

package api

import (
	"net/http"
	"strings"

	"go.uber.org/zap"

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
		a.log.Error("scanning the session store failed", zap.Error(err))
		respond.Error(w, http.StatusInternalServerError, "the session store failed")
		return
	}
	if r.Method == http.MethodGet {
		respond.JSON(w, http.StatusOK, map[string]any{"customer_reference": ref, "sessions": nonNil(linked)})
		return
	}
	deleted := 0
	for _, s := range linked {
		if a.store.Delete(r.Context(), s.ID) == nil {
			deleted++
		}
		a.cancel(s.ID)
	}
	// Counts and ids only: the reference itself is personal data.
	a.log.Info("customer's sessions deleted through the API", zap.Int("sessions", deleted))
	respond.JSON(w, http.StatusOK, map[string]int{"deleted": deleted})
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

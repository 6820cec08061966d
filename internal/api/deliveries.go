package api

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// sessionDeliveries serves GET {prefix}/sessions/{id}/deliveries: the
// session's version and, per sink, what was delivered, what waits, why
// the last attempt failed and, for an update given up, after how many
// attempts and when. (An id that itself ends in "/deliveries" is
// read as this route.)
func (a *API) sessionDeliveries(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		respond.MethodNotAllowed(w, "GET")
		return
	}
	if !model.ValidID(id) {
		respond.Error(w, http.StatusNotFound, "session not found")
		return
	}
	s, err := a.store.Get(r.Context(), id)
	if a.failed(w, err, id) {
		return
	}
	var sinks any = []any{}
	if a.deliveries != nil {
		if sinks, err = a.deliveries(r.Context(), id); err != nil {
			// As every store failure of the API: 503 when unavailable.
			a.storeError(w, err, "reading delivery status failed", nil, zap.String("session_id", id))
			return
		}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"session_id": id, "version": s.Version, "sinks": sinks})
}

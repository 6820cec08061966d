package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// maxGDPRBody caps a takeout or delete request: a reference and nothing
// else.
const maxGDPRBody = 4 << 10

// customerSessions serves POST {prefix}/customers/takeout and
// POST {prefix}/customers/delete, with {"customer_reference": "…"} or
// {"email": "…"} in the body: a GDPR takeout of every session linked to
// that customer (a guest who left only an email too), or
// their erasure with their pending deliveries cancelled (linked:
// Session.LinkedTo). The reference is personal data, so it is never in
// the URL, where access logs and proxies keep it. The bigcache store
// scans for the sessions: operator work, not the request path.
func (a *API) customerSessions(w http.ResponseWriter, r *http.Request, action string) {
	if action != "takeout" && action != "delete" {
		respond.Error(w, http.StatusNotFound, "no such API route: POST the customer_reference to "+
			a.prefix+"/customers/takeout or "+a.prefix+"/customers/delete, never in the URL")
		return
	}
	if r.Method != http.MethodPost {
		respond.MethodNotAllowed(w, http.MethodPost)
		return
	}
	ref, msg := customerRef(http.MaxBytesReader(w, r.Body, maxGDPRBody))
	if msg != "" {
		respond.JSON(w, http.StatusBadRequest, map[string]string{"error": "customer_reference: " + msg, "field": "customer_reference"})
		return
	}
	linked, err := a.store.Linked(r.Context(), ref)
	if err != nil {
		a.storeError(w, err, "reading the customer's sessions failed", nil)
		return
	}
	if action == "takeout" {
		respond.JSON(w, http.StatusOK, map[string]any{"sessions": nonNil(linked)})
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

// customerRef reads {"customer_reference": "…"} or {"email": "…"} and
// returns the link key to look up (model.Session.LinkedTo); msg says what
// is wrong with the body, never repeating it.
func customerRef(body io.Reader) (key, msg string) {
	var v struct {
		CustomerReference *string `json:"customer_reference"`
		Email             *string `json:"email"`
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return "", "the body must be a JSON object with a customer_reference or an email, and nothing else"
	}
	switch {
	case (v.CustomerReference == nil) == (v.Email == nil):
		return "", "give either customer_reference or email"
	case v.Email != nil:
		if !strings.Contains(*v.Email, "@") || len(*v.Email) > 320 {
			return "", "email is not an email address"
		}
		return model.EmailKey(*v.Email), ""
	case *v.CustomerReference == "":
		return "", "is required"
	case len(*v.CustomerReference) > model.MaxIDLength:
		return "", "is longer than 256 bytes"
	}
	return *v.CustomerReference, ""
}

// deleteAll deletes the sessions and cancels their deliveries, stopping
// at the first store failure; one gone meanwhile is not one.
func (a *API) deleteAll(r *http.Request, linked []*model.Session) (int, error) {
	deleted := 0
	for _, s := range linked {
		err := a.sessions.Erase(r.Context(), s.ID)
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

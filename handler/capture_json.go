package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// jsonRoute finds the configured cart API route r belongs to, or nil.
func (h *Handler) jsonRoute(r *http.Request) *jsonmap.Route {
	for i := range h.cfg.Capture.JSON {
		if rt := &h.cfg.Capture.JSON[i]; rt.Match(r.Method, r.URL.Path) {
			// A dry run at Talon.One changes nothing there, so nothing here.
			if r.URL.Query().Get("dry") == "true" {
				return nil
			}
			return rt
		}
	}
	return nil
}

// routeIdentity takes the session id from the URL of routes that carry one
// (Talon.One's and Emporix's session ids): those calls come from the shop's
// backend, which has no visitor cookie and must not be given one.
func routeIdentity(route *jsonmap.Route, r *http.Request) (Identity, bool) {
	if route == nil {
		return Identity{}, false
	}
	id := route.PathParam(r.URL.Path, "id")
	if id == "" {
		return Identity{}, false
	}
	if !model.ValidID(id) {
		// Not ours to track; the request still goes on.
		return Identity{}, true
	}
	return Identity{ID: id, Source: "path", Tracked: true}, true
}

// captureRequest keeps a bounded copy of the request body as the next
// handler reads it, and reads the cart from it afterwards.
func (h *Handler) captureRequest(w http.ResponseWriter, r *http.Request, next Next, id Identity, route *jsonmap.Route) error {
	if r.Body == nil || r.Body == http.NoBody {
		return next.ServeHTTP(w, r)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	tee := &teeBody{ReadCloser: r.Body, buf: buf, limit: h.cfg.Capture.Limit, budget: h.budget}
	r.Body = tee
	err := next.ServeHTTP(w, r)
	path, consent := r.URL.Path, h.consentCookie(r)
	h.afterResponse(r, id, func(ctx context.Context) {
		defer bufPool.Put(buf)
		defer h.budget.give(tee.held)
		if tee.over {
			h.stats.JSON.OverBudget.Add(1)
			return
		}
		h.stats.JSON.Pages.Add(1)
		if tee.truncated {
			// A cut JSON document does not parse; say so rather than guess.
			h.stats.JSON.Truncated.Add(1)
			return
		}
		h.storeJSON(ctx, id, route, path, buf.Bytes(), false, consent)
	})
	return err
}

// teeBody copies what is read from a request body, up to limit bytes.
type teeBody struct {
	io.ReadCloser
	buf       *bytes.Buffer
	limit     int
	truncated bool
	budget    *budget
	held      int
	over      bool // the budget was spent: nothing is kept
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 && !t.truncated && !t.over {
		switch {
		case t.buf.Len()+n > t.limit:
			t.truncated = true
		case !t.budget.take(n):
			t.over = true
		default:
			t.held += n
			t.buf.Write(p[:n])
		}
	}
	return n, err
}

// storeJSON extracts the cart from doc and writes it to the session. An
// answer that may have come from a shared cache (shared) may be another
// visitor's: its cart and customer are not taken, as for pages.
func (h *Handler) storeJSON(ctx context.Context, id Identity, route *jsonmap.Route, path string, doc []byte, shared bool, consent consentCookie) {
	res, err := route.Mapping.Extract(doc)
	if err != nil {
		h.stats.JSON.Undecodable.Add(1)
		return
	}
	h.stats.JSON.DroppedFields.Add(int64(len(res.Dropped)))
	if res.Customer != nil {
		// An answer comes from the shop's server; a request body from
		// whoever sent it, which may be any browser.
		res.Customer.Verified = route.Source == jsonmap.SourceResponse
	}
	patch := model.Patch{Cart: res.Cart, Lines: res.Lines, Customer: res.Customer, MergeCustomer: true,
		CartToken: res.CartToken, Variation: res.Currency}
	if shared && (patch.Cart != nil || patch.Lines != nil || patch.Customer != nil) {
		h.stats.JSON.CacheGuarded.Add(1)
		patch.Cart, patch.Lines, patch.Customer, patch.CartToken = nil, nil, nil, ""
	}
	if patch.IsZero() {
		return
	}
	patch.Consent = h.decide(consent) // with a write only: it needs no read of its own
	s, err := h.apply(ctx, id.ID, patch, model.SourceJSON, path)
	if err != nil {
		h.storeFailed("storing captured cart failed", id.ID, err)
		return
	}
	h.stats.JSON.Stored.Add(1)
	h.log.Debug("cart captured", h.sessionField(id.ID), zap.Uint64("version", s.Version),
		zap.String("route", route.Path), zap.Int("dropped_fields", len(res.Dropped)))
}

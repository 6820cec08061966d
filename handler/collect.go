package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// collectAnswer is all collect tells back: the session's version after
// the write. Whoever holds a session's cookie must not read the session
// through us; a version says only how often it changed.
type collectAnswer struct {
	Version uint64 `json:"version"`
}

// collect serves the first-party collect endpoint. A refused request never
// sets or replaces the visitor's cookie.
func (h *Handler) collect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		respond.MethodNotAllowed(w, http.MethodPost)
		return
	}
	if msg := refuseCollect(r); msg != "" {
		respond.Error(w, http.StatusForbidden, msg)
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		// A form (text/plain, urlencoded, multipart) can be posted by any
		// site without a preflight; JSON cannot.
		writeFieldError(w, http.StatusUnsupportedMediaType, badField("Content-Type", "must be application/json"))
		return
	}
	if !h.allowCollect(w, r) {
		return
	}
	body, ferr := decodeCollect(http.MaxBytesReader(w, r.Body, h.collectBody()))
	if ferr != nil {
		h.collectRefused(w, ferr)
		return
	}
	// Answers before the write go out on w, not cw: they set no cookie.
	id, cw := h.identify(w, r)
	if id.Source == sourceLimited {
		respond.TooMany(w, h.cfg.Limits.NewSessionWait(r), "too many new sessions from this network; nothing was stored, try again later")
		return
	}
	if !id.Tracked {
		// The visitor opted out: accepted and forgotten.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if body.token != "" {
		if ferr = h.verifyCollectCustomer(&body, id.ID); ferr != nil {
			h.collectRefused(w, ferr)
			return
		}
	}
	w = cw
	if old, ok := h.rotates(r.Context(), id, body.patch.Customer); ok {
		var err error
		if id, w, err = h.rotate(w, r, id, old, body.patch.Customer.CustomerReference); err != nil {
			h.collectFailed(w, err)
			return
		}
	}
	h.identified(r, id)
	h.storeCollected(w, r, id, body.patch)
}

func (h *Handler) collectRefused(w http.ResponseWriter, ferr *fieldError) {
	h.log.Debug("collect request refused", zap.String("field", ferr.Field))
	writeFieldError(w, http.StatusBadRequest, ferr)
}

// verifyCollectCustomer makes the posted customer verified when the shop's
// token vouches for it in this session.
func (h *Handler) verifyCollectCustomer(c *collected, session string) *fieldError {
	if why := verifyCustomerToken(h.cfg.CustomerTokenKey, c.token, session, c.patch.Customer, h.now()); why != "" {
		return badField("customer_token", why)
	}
	c.patch.Customer.Verified = true
	return nil
}

func (h *Handler) storeCollected(w http.ResponseWriter, r *http.Request, id Identity, patch model.Patch) {
	// After the visitor's earlier pages' captures: a session's writes go
	// in the order they were made.
	h.settle(r.Context(), id.ID)
	patch.Consent = h.decide(h.consentCookie(r))
	s, err := h.apply(r.Context(), id.ID, patch, model.SourceCollect, "")
	if err != nil {
		h.collectFailed(w, err)
		return
	}
	respond.JSON(w, http.StatusOK, collectAnswer{Version: s.Version})
}

func (h *Handler) collectFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, cache.ErrTooLarge):
		h.log.Warn("collect refused: the session would be too large", zap.Error(err))
		respond.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the session would be larger than %d bytes; nothing was stored", h.sessionSize()))
	case errors.Is(err, cache.ErrOutcomeUnknown):
		// Sent, not answered, not found on reading back: it may be stored.
		h.log.Debug("collect: the store did not answer in time", zap.Error(err))
		respond.Unavailable(w, "the session store did not answer in time: the change may have been stored; sending it again is safe")
	case errors.Is(err, cache.ErrUnavailable):
		h.log.Debug("collect refused: the session store is unavailable", zap.Error(err))
		respond.Unavailable(w, "the session store is unavailable; nothing was stored, try again later")
	default:
		h.log.Error("storing session failed", zap.Error(err))
		respond.Error(w, http.StatusInternalServerError, "the session could not be stored")
	}
}

// refuseCollect says why a collect request is refused as cross-site, or
// "". Browsers mark requests with Sec-Fetch-Site on secure origins; over
// plain HTTP they send none, but a POST carries Origin, which must then
// be this host. A request with neither is not a browser's cross-site one.
func refuseCollect(r *http.Request) string {
	switch first(r.Header["Sec-Fetch-Site"]) {
	case "same-origin", "none":
		return ""
	case "":
	default:
		return "collect accepts same-origin requests only (Sec-Fetch-Site)"
	}
	origin := first(r.Header["Origin"])
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return "collect accepts same-origin requests only (Origin)"
	}
	return ""
}

// isJSON reports a JSON media type, with or without parameters.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// apply writes patch to the session, skipping the write when it changes
// nothing so that versions only move for real changes, records the change
// in the session's history (with where it came from and the page's path),
// and publishes what was stored as one change (Config.Publish), all
// through the session service; and hands it to OnSession.
func (h *Handler) apply(ctx context.Context, id string, p model.Patch, src model.Source, path string) (*model.Session, error) {
	s, _, err := h.sessions.Write(ctx, id, src, path, func(s *model.Session) (model.Change, error) {
		before := snapshotOf(s)
		if !p.Apply(s) {
			return 0, cache.ErrNoChange
		}
		// 0 when only what no history records moved (a page view's
		// enrichment): stored, not published.
		return before.diff(s, p), nil
	})
	if err != nil {
		return nil, err
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
	orders   uint64 // LastOrderEvent
	consent  *model.Consent
}

func snapshotOf(s *model.Session) snapshot {
	// Cloned: Patch.Lines edits cart lines in place.
	return snapshot{cart: model.Cart{Items: slices.Clone(s.Cart.Items)}, customer: s.Customer, orders: s.LastOrderEvent(), consent: s.Consent}
}

func (b snapshot) diff(s *model.Session, p model.Patch) model.Change {
	var c model.Change
	if !b.cart.Equal(s.Cart) {
		c |= model.ChangeCart
	}
	if b.customer != s.Customer {
		c |= model.ChangeCustomer
	}
	if b.orders != s.LastOrderEvent() {
		c |= model.ChangeOrder
	}
	if !b.consent.Equal(s.Consent) {
		c |= model.ChangeConsent
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
		h.log.Debug(msg, h.sessionField(id), zap.Error(err))
		return
	}
	h.log.Error(msg, h.sessionField(id), zap.Error(err))
}

// sessionField names a session in a log line by its pseudonym (LogID),
// never by its id.
func (h *Handler) sessionField(id string) zap.Field {
	if h.cfg.LogID == nil {
		return zap.Skip()
	}
	return zap.String("session", h.cfg.LogID(id))
}

// errorsAs is errors.As with the target made for the caller.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}

// Package handler is the visitor's path in net/http: identity (our cookie
// or the shop's session id, DNT and opt-out), the first-party collect
// endpoint, capture of Nosto tagging and cart JSON from the responses
// passing by, and enrichment of each page view. The operator API is
// package api. The Caddy glue in caddymodule configures both; neither
// imports Caddy.
package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
	"github.com/sessiontap/caddy-sessiontap/internal/session"
	"github.com/sessiontap/caddy-sessiontap/internal/tagging"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Next is the rest of the middleware chain. caddyhttp.Handler satisfies it.
type Next interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// IDSource names where an external session id is read from.
type IDSource struct {
	// From is "cookie" or "header".
	From string
	// Name is the cookie or header name.
	Name string
}

// Config is the handler's behaviour, already validated and defaulted by the
// Caddy glue.
type Config struct {
	CookieName   string
	CookieMaxAge time.Duration
	// CookieKey signs our cookie (at least MinCookieKey bytes, the same on
	// every node serving the same sessions). Without one New generates one
	// for this process.
	CookieKey []byte
	// Secure reports a request that reached the visitor over HTTPS (TLS to
	// Caddy, or a trusted proxy that terminated it): our cookie is then
	// Secure. Without it, only TLS to Caddy counts.
	Secure func(*http.Request) bool
	// LogID is what a log line names a session by: a pseudonym of its id
	// (the one the access log carries). Without it log lines name none:
	// a session id is the key to a session.
	LogID func(id string) string
	// ConsentCookie names the cookie in which the shop's consent banner
	// keeps the visitor's decision, and Consent reads its value (found:
	// the request had it); none without a consent configuration. The
	// cookie is looked up on every request; its value is read, and the
	// decision stored when it changed, with the write the request makes
	// (a page view, a capture, a collect), after the response.
	ConsentCookie string
	Consent       func(value string, found bool) *model.Consent
	// CustomerTokenKey verifies the customer tokens collect takes
	// (CustomerToken); without one, a posted customer stays claimed.
	CustomerTokenKey []byte
	// Sources are tried in order before the own cookie.
	Sources      []IDSource
	RespectDNT   bool
	OptOutCookie string
	// CollectPath is the exact path of the collect endpoint.
	CollectPath string
	// Capture says what is read from proxied responses.
	Capture CaptureConfig
	// Enrich says how page views are recorded on the session.
	Enrich EnrichConfig
	// Publish, when set, is given every write of capture or collect that
	// changed the session, once, as a typed change (the Caddy glue puts
	// it on the store's bus, where the delivery engine and the live feed
	// subscribe). ctx is the request's, for the client's network. It runs
	// on the request path and must not block; the session is read only.
	Publish func(ctx context.Context, c model.SessionChange)
	// Relay, when set, names the store's write log in which the writes
	// of capture and collect are marked as they are stored (see
	// cache.WithRelay): what Publish leads to (the deliveries) is then
	// queued even when this process dies before Publish is done.
	Relay string
	// Erased, when set, is told of every session id the handler erases:
	// the old id of a session moved to a fresh one at a login.
	Erased func(id string)
	// OnIdentity, when set, is told the identity of every tracked request
	// before it goes on (the Caddy glue sets placeholders with it).
	OnIdentity func(*http.Request, Identity)
	// OnSession, when set, is told of the session as it stands after each
	// write made while serving a request (one that changed nothing too),
	// with that request's context, so that per-request views of the
	// session (placeholders read by log_append) show what was stored.
	// Shared with Publish; read only.
	OnSession func(ctx context.Context, s *model.Session)
	// OnQueued, when set, is told on the request's goroutine that a write
	// to session id was queued to be made after the response (see
	// Settle): a view of the session read before is out of date.
	OnQueued func(ctx context.Context, id string)
	// Settle, when set, waits until the writes other handlers of the
	// same store queued for a session are stored (the Caddy glue: the
	// handlers of an older config still draining after a reload), so
	// that a visitor's writes keep their order across a reload.
	Settle func(ctx context.Context, id string)
	// Detach, when set, returns the context a write made after the
	// response runs with: a copy of what Publish reads from the
	// request's (whose values are the request's alone, and whose end
	// must not cancel the write). Without it, context.WithoutCancel.
	Detach func(ctx context.Context) context.Context
	// History is how many changes each session remembers (Session.Record);
	// 0 keeps none.
	History int
	// Limits, when set, is asked before a new session is issued and
	// before a collect is read.
	Limits Limits
	// CollectBody caps a collect request's body (DefaultCollectBody when 0).
	CollectBody int64
	// SessionSize is the bound on a session's encoding that the store was
	// given for this handler, for error messages (model.MaxEncodedSize
	// when 0).
	SessionSize int
}

// Handler serves one sessiontap configuration.
type Handler struct {
	cfg    Config
	signer cookieSigner
	store  cache.Store
	log    *zap.Logger
	now    func() time.Time
	stats  CaptureStats
	// budget bounds what the captures in flight hold together.
	budget *budget
	// sessions makes every write: history, then one published change.
	sessions *session.Service
	// pages remembers the tagging of recently scanned pages by their bytes.
	pages *tagging.Memo
	// later makes capture's writes after the response, in order per session.
	later *later
}

// New builds a Handler over store. log may be nil.
func New(cfg Config, store cache.Store, log *zap.Logger) (*Handler, error) {
	if store == nil {
		return nil, errors.New("no session store")
	}
	if cfg.CookieName == "" {
		return nil, errors.New("no cookie name")
	}
	if n := len(cfg.CookieKey); n > 0 && n < MinCookieKey {
		return nil, fmt.Errorf("the cookie key must be at least %d bytes, got %d", MinCookieKey, n)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Capture.Limit <= 0 {
		cfg.Capture.Limit = DefaultCaptureLimit
	}
	if cfg.Capture.Budget <= 0 {
		cfg.Capture.Budget = DefaultCaptureBudget
	}
	h := &Handler{cfg: cfg, signer: newCookieSigner(cfg.CookieKey), store: store, log: log, now: time.Now, pages: tagging.NewMemo(),
		budget: &budget{max: cfg.Capture.Budget}, later: newLater(log)}
	h.sessions = session.New(store, session.Config{
		History: func() int { return h.cfg.History },
		Publish: cfg.Publish,
		Relay:   cfg.Relay,
		Erased:  cfg.Erased,
		Now:     func() time.Time { return h.now() },
	})
	return h, nil
}

// Serve handles r: the collect endpoint answers it itself; anything else
// gets a session identity and goes on to next.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, next Next) error {
	if r.URL.Path == h.cfg.CollectPath {
		h.collect(w, r)
		return nil
	}
	route := h.jsonRoute(r)
	id, ok := routeIdentity(route, r)
	if !ok {
		id, w = h.identify(w, r)
	}
	h.identified(r, id)
	if !id.Tracked {
		return next.ServeHTTP(w, r)
	}
	// Built before the request goes on: nothing of r is read afterwards.
	visit, consent := h.visit(r), h.consentCookie(r)
	if !h.mayCapture(r, route) {
		err := next.ServeHTTP(w, r)
		if visit != nil {
			h.afterResponse(r, id, func(ctx context.Context) { h.recordVisit(ctx, id, visit, consent) })
		}
		return err
	}
	if route != nil && route.Source == jsonmap.SourceRequest {
		return h.captureRequest(w, r, next, id, route)
	}
	cw := h.newCaptureWriter(w, r, route)
	cw.visit, cw.consent = visit, consent
	err := next.ServeHTTP(cw, r)
	h.afterResponse(r, id, func(ctx context.Context) { h.finishCapture(ctx, id, cw) })
	return err
}

// afterResponse queues write, which stores what r's response showed, to
// run after the response is handed on (see later): nothing of r or its
// response writer may be used by it.
func (h *Handler) afterResponse(r *http.Request, id Identity, write func(context.Context)) {
	ctx := context.WithoutCancel(r.Context())
	if h.cfg.Detach != nil {
		ctx = h.cfg.Detach(r.Context())
	}
	if h.cfg.OnQueued != nil {
		h.cfg.OnQueued(r.Context(), id.ID)
	}
	h.later.do(id.ID, func() { write(ctx) })
}

// Settle waits until the writes this handler queued for session id after
// earlier responses are stored (or ctx ends): a read of the session made
// after it sees them.
func (h *Handler) Settle(ctx context.Context, id string) { h.later.settle(ctx, id) }

// settle is Settle, then the other handlers' (Config.Settle): before a
// write of the visitor's own.
func (h *Handler) settle(ctx context.Context, id string) {
	h.later.settle(ctx, id)
	if h.cfg.Settle != nil {
		h.cfg.Settle(ctx, id)
	}
}

// Close makes the writes still queued (for a few seconds at most) and
// stops; a write queued after runs at once. The Caddy glue calls it at
// Cleanup, once the config's servers have stopped.
func (h *Handler) Close() { h.later.close() }

// identified tells the Caddy glue who a tracked request belongs to.
func (h *Handler) identified(r *http.Request, id Identity) {
	if id.Tracked && h.cfg.OnIdentity != nil {
		h.cfg.OnIdentity(r, id)
	}
}

// mayCapture rules out requests whose answers are never scanned, so that
// they do not even pay for the wrapper.
func (h *Handler) mayCapture(r *http.Request, route *jsonmap.Route) bool {
	if route == nil && (!h.cfg.Capture.HTML || subresource(r)) {
		return false
	}
	// HEAD has no body; an Upgrade (WebSocket) is a tunnel, not a page.
	return r.Method != http.MethodHead && r.Header.Get("Upgrade") == ""
}

// subresource reports a request the browser says is for a stylesheet,
// script, image, font or the like: never a tagged page, so it is not even
// wrapped. Documents, frames and fetches ("empty": SPAs load HTML that way)
// are.
func subresource(r *http.Request) bool {
	dest := first(r.Header["Sec-Fetch-Dest"])
	switch dest {
	case "", "document", "iframe", "frame", "empty":
		return false
	}
	return true
}

// Stats returns the capture counters.
func (h *Handler) Stats() *CaptureStats { return &h.stats }

// Package api is sessiontap's operator API in net/http: authenticated reads
// and deletes of sessions, GDPR takeout and delete by customer, and the
// Emporix-compatible session-context API with its saas-token checks. The
// Caddy glue in caddymodule serves it from the operators' handler
// (sessiontap_api), on a site apart from the visitors' (package handler).
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/internal/session"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Config is the operator API's behaviour, already validated and defaulted
// by the Caddy glue.
type Config struct {
	// Prefix is where the API lives, e.g. "/_sessiontap/api".
	Prefix string
	// Keys are the accepted bearer keys; empty keys are never accepted.
	Keys []string
	// BackendKeys open the session-context API only: a storefront's
	// backend needs nothing else. Empty keys are never accepted.
	BackendKeys []string
	// SaaSTokens resolves the saas-token header of the session-context API
	// to a customer. Nil makes contexts that belong to a customer answer
	// 403 to everyone.
	SaaSTokens TokenVerifier
	// OnRequest, when set, is told of every answer by route (sessions,
	// customers, session-context, other) and status.
	OnRequest func(route string, status int)
	// OnDelete, when set, is told of every session the API deletes (the
	// Caddy glue cancels its pending deliveries).
	OnDelete func(id string)
	// Deliveries, when set, returns each sink's delivery status of a
	// session for {prefix}/sessions/{id}/deliveries (the Caddy glue asks
	// the delivery engine).
	Deliveries func(ctx context.Context, id string) (any, error)
	// Replays start and read replays to a sink ({prefix}/sinks/{name}/replay).
	Replays ReplayFuncs
	// History is how many changes each session keeps
	// (model.Session.Record), asked at each write: the visitor handlers
	// that say it may change without the API. Nil keeps the default.
	History func() int
	// Publish, when set, is given every change the API made (a session
	// context written), once, as a typed change.
	Publish func(c model.SessionChange)
	// MayRead, when set, reports whether a request without a key may
	// still read a session and its deliveries (GET and HEAD of
	// {prefix}/sessions/…): the inspector's signed-in page.
	MayRead func(r *http.Request) bool
	// Guesses throttles wrong keys per client (Guesser). Nil throttles
	// them per peer address with ratelimit.GuessRule.
	Guesses Guesser
}

// Guesser throttles wrong keys per client: Wait is how long r's client
// must wait before it may try a key (0: now), Failed records a wrong one.
// A client is held whatever key it sends, so that a throttled guesser
// learns nothing; other clients are not held.
type Guesser interface {
	Wait(r *http.Request) time.Duration
	Failed(r *http.Request)
}

// API is the operator API: authenticated reads and GDPR deletes of
// sessions, and the session-context API.
type API struct {
	prefix string
	keys   [][sha256.Size]byte
	// backendKeys open the session-context API only.
	backendKeys [][sha256.Size]byte
	store       cache.Store
	log         *zap.Logger
	// contexts serves {prefix}/session-context/ (sessioncontext.go).
	contexts *sessionContexts
	// sessions makes the API's writes and erasures.
	sessions *session.Service
	// onRequest is told of every API answer, by route and status.
	onRequest func(route string, status int)
	// deliveries reports a session's delivery status per sink.
	deliveries func(ctx context.Context, id string) (any, error)
	replays    ReplayFuncs
	// mayRead lets requests without a key read (Config.MayRead).
	mayRead func(r *http.Request) bool
	// guesses throttles wrong keys per client.
	guesses Guesser
}

// New builds the API over store. log may be nil.
func New(cfg Config, store cache.Store, log *zap.Logger) (*API, error) {
	if store == nil {
		return nil, errors.New("no session store")
	}
	if log == nil {
		log = zap.NewNop()
	}
	a := &API{prefix: strings.TrimSuffix(cfg.Prefix, "/"), store: store, log: log,
		onRequest: cfg.OnRequest, deliveries: cfg.Deliveries, replays: cfg.Replays, mayRead: cfg.MayRead,
		guesses: cfg.Guesses}
	if a.guesses == nil {
		a.guesses = ratelimit.NewGuard(ratelimit.GuessRule, ratelimit.GuessClients, nil)
	}
	a.keys = hashedKeys(cfg.Keys)
	a.backendKeys = hashedKeys(cfg.BackendKeys)
	if len(a.keys) == 0 {
		return nil, errors.New("api: no usable key (an empty key, e.g. an unset environment variable, is ignored)")
	}
	a.contexts = &sessionContexts{store: store, verifier: cfg.SaaSTokens, log: log, now: time.Now}
	a.sessions = session.New(store, session.Config{
		History: cfg.History,
		Publish: func(_ context.Context, c model.SessionChange) {
			if cfg.Publish != nil {
				cfg.Publish(c)
			}
		},
		Erased: cfg.OnDelete,
		Now:    func() time.Time { return a.contexts.now() },
	})
	a.contexts.sessions = a.sessions
	return a, nil
}

// hashedKeys hashes the keys for constant-time comparison. An empty key
// (an unset {env.X}) must never open the API.
func hashedKeys(keys []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, k := range keys {
		if k != "" {
			out = append(out, sha256.Sum256([]byte(k)))
		}
	}
	return out
}

// KeyChecker returns a constant-time check of a key against keys (empty
// keys never match), for whatever else signs in with the API's keys.
func KeyChecker(keys []string) (func(string) bool, error) {
	hashed := hashedKeys(keys)
	if len(hashed) == 0 {
		return nil, errors.New("api: no usable key")
	}
	return func(token string) bool { return matches(token, hashed) }, nil
}

// Owns reports whether path is the API's: the Caddy glue sends such
// requests here before anything of the visitor's path runs, so operators
// are never given a visitor cookie.
func (a *API) Owns(path string) bool {
	return path == a.prefix || strings.HasPrefix(path, a.prefix+"/")
}

// admitted answers and returns false unless r may go on: an operator key
// opens every route, a backend key the session-context API only, and the
// inspector's sign-in lets its page read (inspectorMayRead). A client that
// sent too many wrong keys gets 429 until it may try again.
func (a *API) admitted(w http.ResponseWriter, r *http.Request) bool {
	token, keyed := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if wait := a.guesses.Wait(r); keyed && wait > 0 {
		respond.TooMany(w, wait, "too many wrong keys from this network; try again later")
		return false
	}
	route := apiRoute(strings.TrimPrefix(r.URL.Path, a.prefix))
	switch {
	case keyed && matches(token, a.keys):
		return true
	case keyed && matches(token, a.backendKeys):
		if route == "session-context" {
			return true
		}
		// A right key, so no guess: the route is not this key's.
		respond.Error(w, http.StatusForbidden, "this key opens the session-context API only")
		return false
	case !keyed && a.inspectorMayRead(r, route):
		return true
	}
	if keyed {
		a.guesses.Failed(r)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="sessiontap"`)
	respond.Error(w, http.StatusUnauthorized, "unauthorized")
	return false
}

// inspectorMayRead: the inspector's sign-in lets its page read a session
// and its deliveries, nothing else: not the customers' routes nor the
// tenants' contexts, and never write.
func (a *API) inspectorMayRead(r *http.Request, route string) bool {
	return a.mayRead != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		route == "sessions" && a.mayRead(r)
}

// matches compares token with every key in constant time: hashing first
// makes the comparison independent of key lengths, and not stopping at a
// match keeps the timing independent of which key it is.
func matches(token string, keys [][sha256.Size]byte) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range keys {
		match |= subtle.ConstantTimeCompare(sum[:], keys[i][:])
	}
	return match == 1
}

// ServeHTTP answers an API request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, a.prefix)
	route := apiRoute(rest)
	if a.onRequest != nil {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() { a.onRequest(route, sw.status) }()
		w = sw
	}
	if !a.admitted(w, r) {
		return
	}
	switch route {
	case "sessions":
		id := strings.TrimPrefix(rest, "/sessions/")
		if base, ok := strings.CutSuffix(id, "/deliveries"); ok {
			a.sessionDeliveries(w, r, model.OperatorID(base))
			return
		}
		a.session(w, r, model.OperatorID(id))
	case "customers":
		a.customerSessions(w, r, strings.TrimPrefix(rest, "/customers/"))
	case "session-context":
		a.contexts.serve(w, r, strings.TrimPrefix(rest, "/session-context/"))
	case "sinks":
		a.replay(w, r, strings.TrimPrefix(rest, "/sinks/"))
	default:
		respond.Error(w, http.StatusNotFound, "no such API route")
	}
}

// apiRoute names the route of a path below the prefix, for metrics: a
// fixed set, so that paths cannot blow up label cardinality.
func apiRoute(rest string) string {
	for _, r := range []string{"sessions", "customers", "session-context", "sinks"} {
		if strings.HasPrefix(rest, "/"+r+"/") {
			return r
		}
	}
	return "other"
}

// statusWriter remembers the status an API answer was given.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// session serves {prefix}/sessions/{id}. Ids may contain '/', so the id is
// everything after the route; our cookie's value is accepted for the id.
func (a *API) session(w http.ResponseWriter, r *http.Request, id string) {
	if !model.ValidID(id) {
		respond.Error(w, http.StatusNotFound, "session not found")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s, err := a.store.Get(r.Context(), id)
		if a.failed(w, err, id) {
			return
		}
		respond.JSON(w, http.StatusOK, s)
	case http.MethodDelete:
		err := a.sessions.Erase(r.Context(), id)
		if a.failed(w, err, id) {
			return
		}
		a.log.Info("session deleted through the API", zap.String("session_id", id))
		w.Header().Set("Cache-Control", "no-store") // as every API answer
		w.WriteHeader(http.StatusNoContent)
	default:
		respond.MethodNotAllowed(w, "GET, DELETE")
	}
}

// errUnavailableMsg answers a request the store was unavailable for.
const errUnavailableMsg = "the session store is unavailable; nothing was done, try again later"

// errUnknownMsg answers a write the store did not answer in time, and
// which reading back did not find: it may have been stored.
const errUnknownMsg = "the session store did not answer in time: the change may have been stored; sending it again is safe"

// unavailableMsg is what to say of a store error that is ErrUnavailable.
func unavailableMsg(err error) string {
	if errors.Is(err, cache.ErrOutcomeUnknown) {
		return errUnknownMsg
	}
	return errUnavailableMsg
}

// failed answers a store error and reports whether there was one.
func (a *API) failed(w http.ResponseWriter, err error, id string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, cache.ErrNotFound):
		respond.Error(w, http.StatusNotFound, "session not found")
	default:
		a.storeError(w, err, "session store failed", nil, zap.String("session_id", id))
	}
	return true
}

// storeError answers a store failure: 503 with Retry-After for an outage,
// which the store's owner counts and logs at a rate, else 500, logged here
// as msg. body holds the answer's fields besides "error".
func (a *API) storeError(w http.ResponseWriter, err error, msg string, body map[string]any, fields ...zap.Field) {
	if body == nil {
		body = map[string]any{}
	}
	fields = append(fields, zap.Error(err))
	if errors.Is(err, cache.ErrUnavailable) {
		a.log.Debug(msg, fields...)
		body["error"] = unavailableMsg(err)
		respond.RetryLater(w)
		respond.JSON(w, http.StatusServiceUnavailable, body)
		return
	}
	a.log.Error(msg, fields...)
	body["error"] = "the session store failed"
	respond.JSON(w, http.StatusInternalServerError, body)
}

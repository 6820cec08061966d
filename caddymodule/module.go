// Package caddymodule is sessiontap's Caddy glue: the
// http.handlers.sessiontap handler with its JSON config, Caddyfile parsing
// and Provision/Validate/Cleanup; the session store modules, kept across
// reloads in a caddy.UsagePool; the forwarding sinks' config; the
// {sessiontap.*} placeholders; the admin.api.sessiontap admin endpoints;
// and the Prometheus metrics. The plugin's root package imports it.
package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(BigcacheStore{})
	caddy.RegisterModule(RedisStore{})
	caddy.RegisterModule(AdminAPI{})
}

// Defaults, documented in the README.
const (
	DefaultCookieName   = "sessiontap_id"
	DefaultCookieMaxAge = 30 * 24 * time.Hour
	DefaultCollectPath  = "/_sessiontap/collect"
	// maxHistory bounds the history option: a session's history must not
	// outweigh the session.
	maxHistory = 100
)

// Handler gives every visitor a session and keeps it in a session store:
// identity from a first-party cookie or the shop's own session id, a
// first-party collect endpoint, and capture of what passes by. The
// operator side is OperatorHandler, on a site of its own.
type Handler struct {
	// Cookie configures sessiontap's own first-party session cookie.
	Cookie *Cookie `json:"cookie,omitempty"`

	// Sessions lists external session ids (the shop's session cookie, a
	// header), tried in order before the own cookie. The first valid one
	// becomes the session id.
	Sessions []SessionSource `json:"sessions,omitempty"`

	// RespectDNT, when true (the default), stores nothing and sets no cookie
	// for requests with `DNT: 1` or `Sec-GPC: 1`. They are proxied as usual.
	RespectDNT *bool `json:"respect_dnt,omitempty"`

	// OptOutCookie names a cookie whose presence opts the visitor out, like
	// DNT but regardless of respect_dnt.
	OptOutCookie string `json:"opt_out_cookie,omitempty"`

	// Consent says where the shop's consent banner keeps the visitor's
	// decision; forwards that require purposes get a visitor's data only
	// with them granted.
	Consent *Consent `json:"consent,omitempty"`

	// StoreRaw is the session store module; default `{"backend":"bigcache"}`.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=sessiontap.stores inline_key=backend"`

	// Collect is the path of the first-party collect endpoint, which takes
	// POSTed JSON shaped like Nosto's Session API. Default /_sessiontap/collect.
	Collect string `json:"collect,omitempty"`

	// CustomerToken makes a customer posted to collect verified when the
	// shop's backend signed it. Without it, every customer collect takes
	// is claimed: kept, but never forwarded as the customer.
	CustomerToken *CustomerToken `json:"customer_token,omitempty"`

	// Capture configures what is read from proxied responses. By default
	// HTML pages are scanned for Nosto tagging.
	Capture *Capture `json:"capture,omitempty"`

	// Forward sends session updates to upstream systems (Talon.One,
	// Emporix, Nosto, webhooks), in the background.
	Forward []Forward `json:"forward,omitempty"`

	// HideIP says how the client's address is kept on the session: "off"
	// (in full), "truncate" (its network: IPv4 /24, IPv6 /48; the default)
	// or "hash" (HMAC-SHA256 under hmac_key).
	HideIP string `json:"hide_ip,omitempty"`

	// HMACKey keys the HMAC-SHA256 that pseudonymises customer references
	// sent to Talon.One, Emporix and Nosto, the {sessiontap.customer.ref_hash}
	// placeholder, client addresses with hide_ip hash, and the session ids
	// that sinks and the access log get (without it, those are under a key
	// the process draws at start). Placeholders
	// such as {env.SESSIONTAP_HMAC_KEY} are replaced. It is required with
	// hide_ip hash and with a talonone, emporix or nosto forward; "none"
	// says on purpose that those sinks get references under an empty key.
	HMACKey string `json:"hmac_key,omitempty"`

	// Delivery tunes the delivery engine (queue size, concurrency,
	// attempts, timeouts).
	Delivery *Delivery `json:"delivery,omitempty"`

	// History is how many of its latest changes each session keeps (what
	// changed, from where, on which path; never values), for the API and
	// the inspector. Default 20; 0 keeps none. About 40 bytes each.
	History *int `json:"history,omitempty"`

	// Limits bounds what one client can make sessiontap store: new
	// sessions and collects per client network, the collect body and a
	// session's size. On with defaults when unset (see Limits).
	Limits *Limits `json:"limits,omitempty"`

	// Origins records where each option was written in the Caddyfile
	// ("collect": "Caddyfile:12"). Set by the Caddyfile adapter and used
	// only in error messages.
	Origins Origins `json:"origins,omitempty"`

	store     cache.Store
	handler   *handler.Handler
	logger    *zap.Logger
	storeMod  any
	engine    delivery.Deliverer
	engineKey string
	// relay names the Redis write log of this config's engine ("" for
	// none): see relay.go.
	relay  string
	hasher *delivery.Hasher
	// pseudonyms hide our session ids in the access log.
	pseudonyms *delivery.Pseudonyms
	// hub is shared with the operator handlers of the same store.
	hub *hub
}

// API is the operator handler's API: its keys and the inspector.
type API struct {
	// Prefix is the path under which the API is served. Default
	// /_sessiontap/api.
	Prefix string `json:"prefix,omitempty"`
	// Keys are the accepted bearer keys. Placeholders such as {env.KEY}
	// are replaced when the config loads; a key that ends up empty is ignored.
	Keys []string `json:"keys,omitempty"`
	// KeyOrigins records where each key was configured (KeyOrigins[i] for
	// Keys[i]), e.g. "Caddyfile:12". Set by the Caddyfile adapter and used
	// only in error messages.
	KeyOrigins []string `json:"key_origins,omitempty"`
	// BackendKeys are bearer keys for a storefront's backend: they open the
	// session-context API and nothing else (no session, customer or GDPR
	// route, no inspector). Placeholders are replaced; a key that ends up
	// empty is ignored.
	BackendKeys []string `json:"backend_keys,omitempty"`
	// SaaSToken checks the session-context API's saas-token header (see SaaSToken).
	SaaSToken *SaaSToken `json:"saas_token,omitempty"`
	// Inspector turns on the live inspector at {prefix}/ui/. Off when unset.
	Inspector *Inspector `json:"inspector,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sessiontap",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, loads the store and builds the handler.
func (h *Handler) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	defer func() { err = h.Origins.located(err, h.logger) }()
	h.setDefaults()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if h.StoreRaw == nil {
		h.StoreRaw = json.RawMessage(`{"backend":"bigcache"}`)
	}
	mod, err := ctx.LoadModule(h, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading session store: %v", err)
	}
	h.storeMod = mod
	h.store = boundedStore{Store: h.sharedStore(), limit: int(h.limits().SessionSize)}
	h.hub = hubOf(h.storeMod)
	idKey, err := h.idPseudonymKey()
	if err != nil {
		return err
	}
	h.pseudonyms = delivery.NewPseudonyms(idKey)
	if err := h.provisionDelivery(); err != nil {
		return err
	}

	cfg, err := h.handlerConfig()
	if err != nil {
		return err
	}
	hh, err := handler.New(cfg, h.store, h.logger)
	if err != nil {
		return err
	}
	h.handler = hh
	trackCapture(hh.Stats())
	h.hub.addVisitor(h)
	return nil
}

func (h *Handler) setDefaults() {
	if h.Cookie == nil {
		h.Cookie = &Cookie{}
	}
	if h.Cookie.Name == "" {
		h.Cookie.Name = DefaultCookieName
	}
	if h.Cookie.MaxAge == 0 {
		h.Cookie.MaxAge = caddy.Duration(DefaultCookieMaxAge)
	}
	if h.RespectDNT == nil {
		on := true
		h.RespectDNT = &on
	}
	if h.Collect == "" {
		h.Collect = DefaultCollectPath
	}
	if h.History == nil {
		n := model.DefaultMaxHistory
		h.History = &n
	}
}

func (h *Handler) historySize() int { return *h.History }

func (h *Handler) handlerConfig() (handler.Config, error) {
	capture, err := h.captureConfig()
	if err != nil {
		return handler.Config{}, err
	}
	if err := h.hmacKeyProblem(h.HMACKey, caddy.NewReplacer().ReplaceKnown(h.HMACKey, "")); err != nil {
		return handler.Config{}, err
	}
	h.hasher = delivery.NewHasher(h.hmacKey())
	cookieKey, err := h.cookieKey()
	if err != nil {
		return handler.Config{}, err
	}
	tokenKey, err := h.customerTokenKey()
	if err != nil {
		return handler.Config{}, err
	}
	cfg := handler.Config{
		CookieKey:        cookieKey,
		CustomerTokenKey: tokenKey,

		LogID:        h.pseudonyms.Of,
		Secure:       secureRequest,
		CookieName:   h.Cookie.Name,
		CookieMaxAge: time.Duration(h.Cookie.MaxAge),
		RespectDNT:   *h.RespectDNT,
		OptOutCookie: h.OptOutCookie,
		CollectPath:  h.Collect,
		Capture:      capture,
		OnIdentity:   h.setPlaceholders,
		OnSession:    sessionWritten,
		OnQueued:     sessionQueued,
		Settle:       h.hub.settle,
		Detach:       detachWrite,
		History:      h.historySize(),
		Publish:      h.publishChange,
		Relay:        h.relay,
		Erased:       h.hub.erased.Publish,
		Limits:       newClientLimits(h.limits()),
		CollectBody:  h.limits().CollectBody,
		SessionSize:  int(h.limits().SessionSize),
	}
	cfg.Enrich = handler.EnrichConfig{HideIP: h.HideIP, HashIP: h.hasher.Hash, ClientIP: clientIP}
	for _, s := range h.Sessions {
		cfg.Sources = append(cfg.Sources, handler.IDSource{From: s.From, Name: s.Name})
	}
	cfg.ConsentCookie, cfg.Consent = h.consentReader()
	return cfg, nil
}

// Validate checks the configuration for mistakes Provision cannot fix.
func (h *Handler) Validate() error {
	return h.Origins.located(h.validate(), h.logger)
}

func (h *Handler) validate() error {
	if !validToken(h.Cookie.Name) {
		return fmt.Errorf("cookie: %q is not a valid cookie name", h.Cookie.Name)
	}
	if h.Cookie.MaxAge < 0 {
		return fmt.Errorf("cookie: max_age must not be negative")
	}
	for i, s := range h.Sessions {
		if s.From != "cookie" && s.From != "header" {
			return fmt.Errorf("sessions[%d]: from must be cookie or header, not %q", i, s.From)
		}
		if !validToken(s.Name) {
			return fmt.Errorf("sessions[%d]: %q is not a valid %s name", i, s.Name, s.From)
		}
		if s.From == "cookie" && s.Name == h.Cookie.Name {
			// Its values would be taken unsigned, as the shop's.
			return fmt.Errorf("session cookie %s: that is sessiontap's own cookie; name the shop's session cookie, or another cookie with `cookie <name>`", s.Name)
		}
	}
	if !strings.HasPrefix(h.Collect, "/") {
		return fmt.Errorf("collect: path must start with /, e.g. collect /_sessiontap/collect")
	}
	switch h.HideIP {
	case "", "off", "truncate", "hash":
	default:
		return fmt.Errorf("hide_ip: must be off, truncate or hash, not %q", h.HideIP)
	}
	if err := h.validateLimits(); err != nil {
		return err
	}
	if err := h.validateCapture(); err != nil {
		return err
	}
	if err := h.validateConsent(); err != nil {
		return err
	}
	if *h.History < 0 || *h.History > maxHistory {
		return fmt.Errorf("history: must be between 0 and %d, not %d", maxHistory, *h.History)
	}
	return nil
}

// Cleanup releases this config's use of the delivery engine and retires
// its capture counters into the process totals. It runs
// after a failed Provision too, so it only releases what it holds.
func (h *Handler) Cleanup() error {
	if h.handler != nil {
		// Before the engine goes, the writes still queued publish to it;
		// and while they run, the hub's reads (the API, the new config's
		// collect) still wait for them.
		h.handler.Close()
		untrackCapture(h.handler.Stats())
	}
	if h.hub != nil {
		h.hub.removeVisitor(h)
	}
	h.cleanupDelivery()
	return nil
}

// validToken reports whether s is an HTTP token (cookie and header names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	dropOperatorCookie(r)
	h.preparePlaceholders(r)
	return h.handler.Serve(w, r, next)
}

// clientIP is Caddy's client address: the remote address, or the one the
// trusted proxies forwarded.
func clientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

// StoreProvider is implemented by the modules in the sessiontap.stores
// namespace: they hand the handler its session store.
type StoreProvider interface {
	SessionStore() cache.Store
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

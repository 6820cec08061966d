package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/api"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/internal/inspector"
)

func init() {
	caddy.RegisterModule(OperatorHandler{})
}

// DefaultAPIPrefix is where the operator handler serves when no prefix is
// given.
const DefaultAPIPrefix = "/_sessiontap/api"

// OperatorHandler serves a shop's operators: the session API, GDPR
// takeout and delete, the Emporix-compatible session-context API and the
// live inspector. It reads the sessions of one store, and the delivery
// status, retry and live feed of the sessiontap handlers in this Caddy
// that use the same store (the same bigcache name, or the same Redis
// address and prefix).
//
// It belongs on a site of its own (an internal host, or a port bound to
// an internal address): on the shop's origin any script on a shop page
// could use a signed-in operator's cookie. Provision refuses it in the
// same site as a sessiontap handler.
type OperatorHandler struct {
	API

	// StoreRaw is the session store to serve, configured as sessiontap's
	// `store`; default `{"backend":"bigcache"}`, the embedded store named
	// "default".
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=sessiontap.stores inline_key=backend"`

	// Origins records where the directive and each option were written
	// in the Caddyfile. Set by the Caddyfile adapter and used only in
	// error messages.
	Origins Origins `json:"origins,omitempty"`

	logger    *zap.Logger
	storeMod  any
	store     cache.Store
	hub       *hub
	api       *api.API
	inspector *inspector.Inspector
	feed      feed.Feed
	feedKey   string
}

// CaddyModule returns the Caddy module information.
func (OperatorHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sessiontap_api",
		New: func() caddy.Module { return new(OperatorHandler) },
	}
}

// Provision loads the store and builds the API and the inspector.
func (o *OperatorHandler) Provision(ctx caddy.Context) (err error) {
	o.logger = ctx.Logger()
	defer func() { err = o.Origins.located(err, o.logger) }()
	if o.Prefix == "" {
		o.Prefix = DefaultAPIPrefix
	}
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if err := refuseShopSite(ctx); err != nil {
		return err
	}
	if o.StoreRaw == nil {
		o.StoreRaw = json.RawMessage(`{"backend":"bigcache"}`)
	}
	mod, err := ctx.LoadModule(o, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading session store: %v", err)
	}
	o.storeMod = mod
	o.store = storeOf(mod)
	o.hub = hubOf(mod)
	if err := o.provisionFeed(); err != nil {
		return err
	}
	o.api, err = o.newAPI()
	return err
}

// Validate checks the prefix and the inspector's options (Provision has
// refused a config without a usable key).
func (o *OperatorHandler) Validate() error {
	return o.Origins.located(o.validate(), o.logger)
}

func (o *OperatorHandler) validate() error {
	p := o.Prefix
	if !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasSuffix(p, "/") {
		return errors.New("sessiontap_api: prefix must start with / and not end with /, e.g. /_sessiontap/api")
	}
	if o.Inspector != nil {
		return o.Inspector.validate()
	}
	return nil
}

// Cleanup releases this config's use of the live feed. It runs after a
// failed Provision too.
func (o *OperatorHandler) Cleanup() error {
	o.cleanupFeed()
	return nil
}

// ServeHTTP serves the API and the inspector under the prefix and hands
// every other request to the next handler.
func (o *OperatorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if o.inspector != nil && o.inspector.Owns(r.URL.Path) {
		o.inspector.ServeHTTP(w, r)
		return nil
	}
	if o.api.Owns(r.URL.Path) {
		o.api.ServeHTTP(w, r)
		return nil
	}
	return next.ServeHTTP(w, r)
}

// storeOf is a store module's own store.
func storeOf(mod any) cache.Store {
	if p, ok := mod.(StoreProvider); ok {
		return p.SessionStore()
	}
	return nil // not provisioned
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OperatorHandler)(nil)
	_ caddy.Validator             = (*OperatorHandler)(nil)
	_ caddy.CleanerUpper          = (*OperatorHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*OperatorHandler)(nil)
)

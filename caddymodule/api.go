package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/api"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
)

// newAPI builds the operator API and its inspector, or nil when off.
func (h *Handler) newAPI() (*api.API, error) {
	cfg, err := h.apiConfig()
	if cfg == nil || err != nil {
		return nil, err
	}
	if h.inspector, err = h.newInspector(cfg); err != nil {
		return nil, err
	}
	if h.inspector != nil {
		cfg.MayRead = h.inspector.Authorized
	}
	return api.New(*cfg, h.store, h.logger)
}

// apiConfig is the operator API's config with placeholders replaced, or
// nil when the API is off.
func (h *Handler) apiConfig() (*api.Config, error) {
	if h.API == nil {
		return nil, nil
	}
	repl := caddy.NewReplacer()
	keys, unset, err := h.API.keys(repl)
	if err != nil {
		return nil, err
	}
	for _, why := range unset {
		// The placeholder and its line, never a key.
		h.logger.Warn("api: a key is ignored", zap.String("reason", why))
	}
	verifier, err := h.API.SaaSToken.verifier(repl)
	if err != nil {
		return nil, err
	}
	// One budget of wrong keys per client for the API and the inspector.
	guesses := ratelimit.NewGuard(ratelimit.GuessRule, ratelimit.GuessClients, clientIP)
	cfg := &api.Config{Prefix: h.API.Prefix, Keys: keys, BackendKeys: replaced(h.API.BackendKeys), SaaSTokens: verifier, OnRequest: observeAPIRequest,
		History: h.historySize(), OnChange: h.onChange(), Guesses: guesses}
	cfg.OnDelete = h.forgetSession
	if h.engine != nil {
		engine := h.engine
		cfg.Deliveries = func(ctx context.Context, id string) (any, error) { return engine.Status(ctx, id) }
	}
	return cfg, nil
}

// forgetFeedTimeout bounds how long an erasure waits for the live feed.
const forgetFeedTimeout = 5 * time.Second

// forgetSession follows an erasure (GDPR): the session's pending
// deliveries are cancelled and its events leave the live feed, on every
// node of a fleet.
func (h *Handler) forgetSession(id string) {
	if h.engine != nil {
		h.engine.Cancel(id)
	}
	if h.feed == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), forgetFeedTimeout)
	defer cancel()
	if err := h.feed.Forget(ctx, id); err != nil {
		h.logger.Error("erasing a session from the live feed failed; its events stay until the feed rolls over", zap.Error(err))
	}
}

// replaced is keys with their placeholders replaced; empty ones are left
// out, since an unset {env.X} must never open anything.
func replaced(keys []string) []string {
	repl := caddy.NewReplacer()
	var out []string
	for _, k := range keys {
		if v := repl.ReplaceKnown(k, ""); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// keys replaces the placeholders in the API's keys. A key that ends up
// empty is ignored, since it must never open the API; when none is left,
// the error names every key's placeholder and where it was configured.
func (a *API) keys(repl *caddy.Replacer) (keys, unset []string, err error) {
	if len(a.Keys) == 0 {
		return nil, nil, errors.New("api: at least one key is required")
	}
	var empty []string
	for i, k := range a.Keys {
		if v := repl.ReplaceKnown(k, ""); v != "" {
			keys = append(keys, v)
			continue
		}
		var at string
		if i < len(a.KeyOrigins) {
			at = a.KeyOrigins[i]
		}
		empty = append(empty, emptySecret("key", k, at).Error())
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("api: no usable key (a key that is empty is ignored): %s", strings.Join(empty, "; "))
	}
	return keys, empty, nil
}

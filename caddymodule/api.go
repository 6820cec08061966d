package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/api"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// newAPI builds the operator API and its inspector.
func (o *OperatorHandler) newAPI() (*api.API, error) {
	cfg, err := o.apiConfig()
	if err != nil {
		return nil, err
	}
	if o.inspector, err = o.newInspector(cfg); err != nil {
		return nil, err
	}
	if o.inspector != nil {
		cfg.MayRead = o.inspector.Authorized
	}
	return api.New(*cfg, o.writer(), o.logger)
}

// writer is the store as the API writes to it: bounded like the newest
// visitor handler's, or by the default session size without one.
func (o *OperatorHandler) writer() cache.Store {
	return hubStore{Store: o.store, hub: o.hub}
}

// apiConfig is the operator API's config with placeholders replaced.
func (o *OperatorHandler) apiConfig() (*api.Config, error) {
	repl := caddy.NewReplacer()
	keys, unset, err := o.API.keys(repl)
	if err != nil {
		return nil, err
	}
	for _, why := range unset {
		// The placeholder and its line, never a key.
		o.logger.Warn("sessiontap_api: a key is ignored", zap.String("reason", why))
	}
	verifier, err := o.SaaSToken.verifier(repl)
	if err != nil {
		return nil, err
	}
	// One budget of wrong keys per client for the API and the inspector.
	guesses := ratelimit.NewGuard(ratelimit.GuessRule, ratelimit.GuessClients, clientIP)
	b := o.hub
	cfg := &api.Config{Prefix: o.Prefix, Keys: keys, BackendKeys: replaced(o.BackendKeys), SaaSTokens: verifier, OnRequest: observeAPIRequest,
		History: b.history, Guesses: guesses, OnDelete: b.erased.Publish,
		// The API's writes reach the live feeds, never a sink.
		Publish: func(c model.SessionChange) { b.changes.Publish(change{SessionChange: c}) }}
	cfg.Deliveries = func(ctx context.Context, id string) (any, error) { return b.deliveries(ctx, id) }
	cfg.Replays = api.ReplayFuncs{Start: b.replay, Status: b.replayStatus}
	return cfg, nil
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
		return nil, nil, errors.New("sessiontap_api: at least one key is required: key <secret>, e.g. key {env.SESSIONTAP_API_KEY}")
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
		return nil, nil, fmt.Errorf("sessiontap_api: no usable key (a key that is empty is ignored): %s", strings.Join(empty, "; "))
	}
	return keys, empty, nil
}

package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"slices"
)

// secretsToRedact lists every secret of the configuration, placeholders
// replaced, for the sinks' redactors: an upstream that echoes what it got
// (or anything else) must not show a credential in a delivery error,
// whichever sink's error it is. Each sink redacts its own credentials
// anyway; these are the others: every forward's, the API's keys, the
// Redis password and the HMAC, cookie and inspector keys.
func (h *Handler) secretsToRedact(repl *caddy.Replacer) []string {
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	var out []string
	for _, f := range h.Forward {
		out = append(out, r(f.APIKey), r(f.ClientID), r(f.ClientSecret), r(f.Token), r(f.Secret))
	}
	out = append(out, h.hmacKey())
	if h.Cookie != nil {
		out = append(out, r(h.Cookie.Secret))
	}
	if h.CustomerToken != nil {
		out = append(out, r(h.CustomerToken.HMACKey))
	}
	if rs, ok := h.storeMod.(*RedisStore); ok && rs.store != nil {
		out = append(out, rs.store.Config().Password)
	}
	return append(out, h.apiSecrets(repl)...)
}

// apiSecrets are the operator API's keys, the saas-token key and static
// tokens, and the inspector's cookie key.
func (h *Handler) apiSecrets(repl *caddy.Replacer) []string {
	if h.API == nil {
		return nil
	}
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	var out []string
	for _, k := range append(slices.Clone(h.API.Keys), h.API.BackendKeys...) {
		out = append(out, r(k))
	}
	if st := h.API.SaaSToken; st != nil {
		out = append(out, r(st.HMACKey))
		for tok := range st.Static {
			out = append(out, r(tok))
		}
	}
	if h.API.Inspector != nil {
		out = append(out, r(h.API.Inspector.Secret))
	}
	return out
}

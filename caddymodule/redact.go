package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
)

// secretsToRedact lists every secret of the configuration, placeholders
// replaced, for the sinks' redactors: an upstream that echoes what it got
// (or anything else) must not show a credential in a delivery error,
// whichever sink's error it is. Each sink redacts its own credentials
// anyway; these are the others: every forward's, the Redis password and
// the HMAC, cookie and customer-token keys. (The operator handler's keys
// never leave this process, so no upstream can echo them.)
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
	return out
}

package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// secureRequest reports a request that reached the visitor over HTTPS:
// TLS to Caddy, or X-Forwarded-Proto https from a proxy the server trusts
// (trusted_proxies). From anyone else the header proves nothing, and is
// ignored.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	if !trusted {
		return false
	}
	// A chain of proxies appends: the first is the one the browser met.
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

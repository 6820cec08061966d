package caddymodule

import (
	"net/http"
	"slices"
	"strings"

	"github.com/sessiontap/caddy-sessiontap/internal/inspector"
)

// dropOperatorCookie takes the inspector's sign-in cookie off a request
// on its way to the shop. Browsers send a host's cookies to every port of
// it, so an operator signed in on the operators' port of a host sends the
// sign-in to the shop's port of the same host too, where the shop's code
// (or a page that echoes its request) would see it.
func dropOperatorCookie(r *http.Request) {
	vals := r.Header["Cookie"]
	if !slices.ContainsFunc(vals, func(v string) bool { return strings.Contains(v, inspector.CookieName) }) {
		return
	}
	for i, v := range vals {
		parts := strings.Split(v, ";")
		parts = slices.DeleteFunc(parts, func(p string) bool {
			name, _, _ := strings.Cut(p, "=")
			return strings.TrimSpace(name) == inspector.CookieName
		})
		vals[i] = strings.TrimSpace(strings.Join(parts, ";"))
	}
	vals = slices.DeleteFunc(vals, func(v string) bool { return v == "" })
	if len(vals) == 0 {
		r.Header.Del("Cookie")
		return
	}
	r.Header["Cookie"] = vals
}

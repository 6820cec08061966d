// Package sessiontap is the Caddy plugin: importing it registers every
// module of caddy-sessiontap (the http.handlers.sessiontap and
// http.handlers.sessiontap_api handlers, their Caddyfile directives, the
// session stores and the admin endpoints), which is what
//
//	xcaddy build --with github.com/sessiontap/caddy-sessiontap
//
// does. The code lives in caddymodule/; the domain model in model/.
package sessiontap

import (
	// Registers the modules in its init.
	_ "github.com/sessiontap/caddy-sessiontap/caddymodule"
)

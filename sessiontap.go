// Package sessiontap is the Caddy plugin: importing it registers every
// module of caddy-sessiontap (the http.handlers.sessiontap handler, the
// sessiontap Caddyfile directive and the session stores), which is what
//
//	xcaddy build --with github.com/sessiontap/caddy-sessiontap
//
// does. The code lives in caddymodule/; the domain model in model/.
package sessiontap

import (
	// Registers the modules in its init.
	_ "github.com/sessiontap/caddy-sessiontap/caddymodule"
)

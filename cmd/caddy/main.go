// Command caddy is Caddy with its standard modules and sessiontap: what
// xcaddy would build, for development and the demo.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/sessiontap/caddy-sessiontap"
)

func main() {
	caddycmd.Main()
}

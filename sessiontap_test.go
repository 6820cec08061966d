package sessiontap

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// What xcaddy builds imports this package alone: every module and the
// directive must be registered by that import.
func TestRootRegistersEverything(t *testing.T) {
	for _, id := range []string{"http.handlers.sessiontap", "http.handlers.sessiontap_api", "sessiontap.stores.bigcache", "sessiontap.stores.redis", "admin.api.sessiontap"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s not registered by the root package: %v", id, err)
		}
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, _, err := adapter.Adapt([]byte(":8080\nsessiontap\nrespond ok\n"), nil)
	if err != nil {
		t.Fatalf("the sessiontap directive does not adapt: %v", err)
	}
	if !strings.Contains(string(out), `"handler":"sessiontap"`) {
		t.Errorf("adapted config has no sessiontap handler: %s", out)
	}
}

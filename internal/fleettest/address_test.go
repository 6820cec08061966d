//go:build linux

package fleettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validate runs `caddy validate` on a site whose store is storeLines, and
// returns its output and whether it accepted the config.
func validate(t *testing.T, storeLines string) (string, bool) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "Caddyfile")
	body := fmt.Sprintf("{\n\tadmin off\n}\n\nhttp://127.0.0.1:%d {\n\tsessiontap {\n\t\tstore redis {\n%s\n\t\t\tindex_key %s\n\t\t}\n\t}\n\trespond ok\n}\n",
		FreePort(t), storeLines, IndexKey)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(CaddyBinary(t), "validate", "--config", conf, "--adapter", "caddyfile").CombinedOutput()
	return string(out), err == nil
}

// An address that names the wrong kind of server is refused when the
// config loads, with what to write instead: a sentinel (every collect
// answered 500 before), a replica (every write READONLY), and two
// addresses of one standalone server (refused as "cluster support
// disabled", which said nothing). The sentinels' own syntax loads.
func TestStoreAddressOfTheWrongKindIsRefused(t *testing.T) {
	set := StartSentinels(t, time.Second)
	cases := []struct{ name, lines, want string }{
		{"a sentinel", "\t\t\taddress " + set.Addrs[0], "is a Redis Sentinel, not a server: give the sentinels as sentinel <host:port>... with master_name"},
		{"a replica", "\t\t\taddress " + set.Replica.Addr, "is a replica, which refuses writes"},
		{"two addresses of a standalone server", "\t\t\taddress " + set.Primary.Addr + " " + set.Replica.Addr,
			"several addresses are the seed nodes of one Redis Cluster, but this server is standalone"},
	}
	for _, tc := range cases {
		out, ok := validate(t, tc.lines)
		if ok || !strings.Contains(out, tc.want) {
			t.Errorf("%s: accepted %v, output:\n%s\nwant %q", tc.name, ok, out, tc.want)
		}
	}
	if out, ok := validate(t, "\t\t\tsentinel "+strings.Join(set.Addrs, " ")+"\n\t\t\tmaster_name "+MasterName); !ok {
		t.Errorf("the sentinels were refused:\n%s", out)
	}
}

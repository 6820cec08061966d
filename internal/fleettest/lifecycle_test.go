//go:build linux

package fleettest

import (
	"strings"
	"testing"
	"time"
)

// The harness's process controls do what later tests rely on, and a fleet
// survives them: sessions outlive a node killed (-9) or stopped (SIGTERM)
// and started again, a reload applies a changed Caddyfile without a
// restart, and nodes find a restarted Redis by themselves.
func TestFleetLifecycle(t *testing.T) {
	f := StartFleet(t, 2, nil)
	a, b := f.Nodes[0], f.Nodes[1]
	cookie, s := collectNew(t, a, "", `{"page_type":"cart"}`)

	a.Kill()
	if a.Running() {
		t.Fatal("node a still runs after kill -9")
	}
	if _, _, err := a.Do("GET", "/plain", nil); err == nil {
		t.Error("node a answers after kill -9")
	}
	a.Start()
	if code, got := a.Session(t, s.ID); code != 200 || got.Version != s.Version {
		t.Errorf("after kill -9 and start, a reads %d version %d; want 200, %d", code, got.Version, s.Version)
	}

	if err := b.Stop(); err != nil {
		t.Errorf("SIGTERM: caddy exited with %v", err)
	}
	if b.Running() {
		t.Fatal("node b still runs after Stop")
	}
	b.Start()
	if code, _ := b.Session(t, s.ID); code != 200 {
		t.Errorf("after SIGTERM and start, b reads %d", code)
	}

	b.Cfg.Site = "header X-Reloaded yes"
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if res, _, err := b.Do("GET", "/plain", nil); err != nil {
		t.Errorf("after reload: %v", err)
	} else if res.Header.Get("X-Reloaded") != "yes" {
		t.Errorf("after reload: X-Reloaded %q", res.Header.Get("X-Reloaded"))
	}
	if !strings.Contains(b.Log(), "load complete") {
		t.Errorf("node b's log has no config load:\n%s", b.Tail(10))
	}

	// A Redis killed and started again is empty; the nodes write to it
	// again once they have reconnected.
	f.Redis.Kill()
	f.Redis.Start()
	for _, n := range f.Nodes {
		var code int
		ok := Poll(10*time.Second, func() bool {
			res, _, err := n.Do("POST", Collect, []byte(`{"page_type":"front"}`), "Cookie", CookieHeader(cookie), "Content-Type", "application/json")
			if err != nil || res.StatusCode != 200 {
				return false
			}
			code, _ = a.Session(t, s.ID)
			return code == 200
		})
		if !ok {
			t.Errorf("node %s: no write after Redis restarted (a reads %d)", n.Name, code)
		}
	}
}

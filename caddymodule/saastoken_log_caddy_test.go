package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A customer's saas-token is a credential, and Caddy's access log records
// a request's headers as they arrived (a copy taken before any handler
// runs, which a handler cannot scrub). The README's log filter keeps it
// out; without the filter it is there, which is why the README asks for it.
func TestSaaSTokenIsNotInTheAccessLog(t *testing.T) {
	const token = "the-customers-saas-token-0123456789"
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"request>headers>Saas-Token delete", "request>headers>X-Session-Id delete"} {
		if !strings.Contains(string(readme), line) {
			t.Fatalf("the README no longer shows %q: keep readmeLogFilter as it is", line)
		}
	}
	for _, tc := range []struct {
		filter string
		logged bool
	}{
		{"", true},
		{readmeLogFilter, false},
	} {
		logPath := filepath.Join(t.TempDir(), "access.log")
		tester := newTester(t)
		tester.InitServer(globalOptions+`
http://localhost:9081 {
	log {
		output file `+logPath+`
		`+tc.filter+`
	}
	sessiontap_api /_sessiontap/api {
		key test-key
		saas_token static `+token+` cust-1
	}
	respond "ops home"
}
`, "caddyfile")
		do(t, tester, "GET", opsURL+"/session-context/shop/context/sess-1", "",
			"Authorization", "Bearer test-key", "saas-token", token, "X-Control", "logged-header")
		var log string
		waitFor(t, "the access log line", func() bool {
			b, _ := os.ReadFile(logPath)
			log = string(b)
			return strings.Contains(log, "session-context")
		})
		if !strings.Contains(log, "logged-header") {
			t.Fatalf("the access log records no request headers, so this test proves nothing:\n%s", log)
		}
		if got := strings.Contains(log, token); got != tc.logged {
			t.Errorf("filter %q: the saas-token is in the access log: %v, want %v", tc.filter, got, tc.logged)
		}
	}
}

// readmeLogFilter is the README's access log filter ("Privacy and logs").
const readmeLogFilter = `format filter {
			request>headers>Saas-Token delete
			request>headers>X-Session-Id delete
		}`

package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// behindProxy is a site whose server trusts the loopback proxy's
// X-Forwarded-* headers when trusted, and nobody's otherwise.
func behindProxy(trusted bool) string {
	global := globalOptions
	if trusted {
		global = proxiedGlobalOptions
	}
	return global + `
http://localhost:9080 {
	sessiontap
	respond "shop"
}
` + opsSite("", "\t\tinspector")
}

// signInAs posts the inspector's sign-in form as a browser on an HTTPS
// page would, through a proxy that terminated TLS.
func signInAs(t *testing.T, tester *caddytest.Tester) *http.Response {
	t.Helper()
	return signIn(t, "127.0.0.1", "test-key", "Origin", "https://localhost:9081", "X-Forwarded-Proto", "https")
}

// Behind a proxy that terminates TLS (trusted_proxies), the visitor's and
// the operator's cookies are Secure and sign-in from the HTTPS page works;
// from a client that is not a trusted proxy, X-Forwarded-Proto is ignored.
func TestBehindATLSProxy(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(behindProxy(true), "caddyfile")
	res, _ := do(t, tester, "GET", "http://localhost:9080/", "", "X-Forwarded-Proto", "https")
	if sc := res.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("visitor behind a TLS proxy: Set-Cookie %q is not Secure", sc)
	}
	tester.Client.Jar = nil
	res, _ = do(t, tester, "GET", "http://localhost:9080/", "")
	if sc := res.Header.Get("Set-Cookie"); sc == "" || strings.Contains(sc, "Secure") {
		t.Errorf("visitor over plain HTTP: Set-Cookie %q", sc)
	}
	res = signInAs(t, tester)
	if sc := res.Header.Get("Set-Cookie"); res.StatusCode != http.StatusSeeOther || !strings.Contains(sc, "; Secure") ||
		!strings.HasSuffix(res.Header.Get("Location"), "/ui/") {
		t.Errorf("inspector sign-in behind a TLS proxy: %d, Location %q, Set-Cookie %q", res.StatusCode, res.Header.Get("Location"), sc)
	}

	tester.InitServer(behindProxy(false), "caddyfile")
	tester.Client.Jar = nil
	res, _ = do(t, tester, "GET", "http://localhost:9080/", "", "X-Forwarded-Proto", "https")
	if sc := res.Header.Get("Set-Cookie"); sc == "" || strings.Contains(sc, "Secure") {
		t.Errorf("X-Forwarded-Proto from an untrusted client was believed: Set-Cookie %q", sc)
	}
	if res := signInAs(t, tester); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with an untrusted X-Forwarded-Proto: %d, want 403", res.StatusCode)
	}
}

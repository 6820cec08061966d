package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// signIn posts the inspector's sign-in form with key from client ip, with
// the header pairs given, and does not follow the redirect.
func signIn(t *testing.T, ip, key string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", opsURL+"/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func bearer(t *testing.T, tester *caddytest.Tester, ip, key string) *http.Response {
	t.Helper()
	res, _ := from(t, tester, ip, "GET", opsURL+"/sessions/nosuchsession", "", "Authorization", "Bearer "+key)
	return res
}

// Someone guessing keys is held after a handful, whatever key they send
// next, and only they are: an operator elsewhere keeps working, through
// the API and the inspector's sign-in alike.
func TestKeyGuessingIsHeldPerClient(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(proxiedGlobalOptions+`
http://localhost:9080 {
	sessiontap
	respond "shop"
}
`+opsSite("", "\t\tinspector"), "caddyfile")
	for i := range 5 {
		if res := bearer(t, tester, attacker, "guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, res.StatusCode)
		}
	}
	res := bearer(t, tester, attacker, "test-key")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the guesser's right key after 5 wrong ones: %d, Retry-After %q; want 429", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := signIn(t, attacker, "test-key"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the guesser's sign-in: %d, want 429 (one budget for API and inspector)", res.StatusCode)
	}
	if res := bearer(t, tester, victimIP, "test-key"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an operator elsewhere: %d, want 404 (authorized, no such session)", res.StatusCode)
	}
	if res := signIn(t, victimIP, "test-key"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Set-Cookie") == "" {
		t.Errorf("an operator elsewhere signing in: %d", res.StatusCode)
	}
}

// A storefront backend's key opens the session-context API and nothing
// else: not a session, not a customer's takeout, not the inspector.
func TestBackendKeyOpensTheSessionContextAPIOnly(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfigWith("", `respond "shop"`)+opsSite("", `
		backend_key shop-backend-key
		inspector`), "caddyfile")
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/session-context/shop/context/sess-1", "", http.StatusNotFound}, // authorized, no such context
		{"GET", "/sessions/sess-1", "", http.StatusForbidden},
		{"POST", "/customers/takeout", `{"customer_reference":"c1"}`, http.StatusForbidden},
		{"POST", "/customers/delete", `{"customer_reference":"c1"}`, http.StatusForbidden},
	} {
		res, body := do(t, tester, tc.method, opsURL+tc.path, tc.body,
			"Authorization", "Bearer shop-backend-key", "Content-Type", "application/json")
		if res.StatusCode != tc.want {
			t.Errorf("backend key, %s %s: %d %s, want %d", tc.method, tc.path, res.StatusCode, body, tc.want)
		}
	}
	if res := signIn(t, "127.0.0.1", "shop-backend-key"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Set-Cookie") != "" ||
		!strings.Contains(res.Header.Get("Location"), "failed") {
		t.Errorf("inspector sign-in with a backend key: %d, Location %q, Set-Cookie %q", res.StatusCode, res.Header.Get("Location"), res.Header.Get("Set-Cookie"))
	}
	// The operator key still opens everything.
	if res, body := do(t, tester, "GET", opsURL+"/sessions/sess-1", "", "Authorization", "Bearer test-key"); res.StatusCode != http.StatusNotFound {
		t.Errorf("operator key: %d %s", res.StatusCode, body)
	}
}

package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// signIn posts the inspector's sign-in form with key from client ip.
func signIn(t *testing.T, ip, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://localhost:9080/_sessiontap/api/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
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
	res, _ := from(t, tester, ip, "GET", "http://localhost:9080/_sessiontap/api/sessions/nosuchsession", "", "Authorization", "Bearer "+key)
	return res
}

// Someone guessing keys is held after a handful, whatever key they send
// next, and only they are: an operator elsewhere keeps working, through
// the API and the inspector's sign-in alike.
func TestKeyGuessingIsHeldPerClient(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(proxiedGlobalOptions+`
http://localhost:9080 {
	sessiontap {
		api /_sessiontap/api {
			key test-key
			inspector
		}
	}
	respond "shop"
}
`, "caddyfile")
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

//go:build linux

package browsertest

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/inspector"
)

// noRedirects lets a test see redirects rather than follow them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestInspectorRefusesWithoutAValidSignIn, through the real Caddy: every
// inspector route and the SSE feed, without a cookie, with a forged one
// and with an expired one correctly signed, is refused; a signed-in
// cookie reads the API but cannot write through it.
func TestInspectorRefusesWithoutAValidSignIn(t *testing.T) {
	wh := startWebhook(t)
	s := startShop(t, wh.URL)
	ui := s.Ops + apiPrefix + "/ui"

	res, err := noRedirects.PostForm(ui+"/login", url.Values{"key": {apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var good *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == inspector.CookieName {
			good = c
		}
	}
	if good == nil {
		t.Fatalf("sign-in answered %d without a cookie", res.StatusCode)
	}
	parts := strings.Split(good.Value, ".")
	expired := "v1." + strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + "." + parts[2]
	expired += "." + mac(inspector.SigningKey([]byte(inspectorSecret)), expired)
	// The control: signed the same way but not expired, it is accepted,
	// so the expired one below is refused for its expiry alone.
	fresh := "v1." + strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10) + "." + parts[2]
	if code, _ := request(t, "GET", ui+"/me", fresh+"."+mac(inspector.SigningKey([]byte(inspectorSecret)), fresh)); code != http.StatusOK {
		t.Fatalf("a cookie signed as the test signs answered %d; the test's signing is wrong", code)
	}
	bad := map[string]string{
		"no cookie": "",
		// Signed as before the inspector had a secret of its own: under a
		// key derived from the API key, which a cookie let anyone guess
		// offline.
		"keyed by the API key": fresh + "." + mac(oldSigningKey(apiKey), fresh),
		"forged":               parts[0] + "." + strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10) + "." + parts[2] + "." + parts[3],
		"expired":              expired,
	}
	routes := [][2]string{{"GET", "/"}, {"GET", "/index.html"}, {"GET", "/app.js"}, {"GET", "/me"}, {"GET", "/events"},
		{"GET", "/summary"}, {"POST", "/search"}, {"POST", "/logout"}, {"POST", "/sessions/x/retry?sink=webhook"},
		{"POST", "/sinks/webhook/replay?since=2026-01-01T00:00:00Z"}, {"GET", "/sinks/webhook/replay"}}
	for name, v := range bad {
		for _, rt := range routes {
			code, loc := request(t, rt[0], ui+rt[1], v)
			if code != http.StatusUnauthorized && !(code == http.StatusSeeOther && strings.HasSuffix(loc, "/ui/login")) {
				t.Errorf("%s: %s %s answered %d %s, want 401 or a redirect to sign in", name, rt[0], rt[1], code, loc)
			}
		}
		if code, _ := request(t, "GET", s.Ops+apiPrefix+"/sessions/x", v); code != http.StatusUnauthorized {
			t.Errorf("%s: the API answered %d, want 401", name, code)
		}
	}
	// Signed in: the API reads (404: no such session), never deletes.
	if code, _ := request(t, "GET", s.Ops+apiPrefix+"/sessions/x", good.Value); code != http.StatusNotFound {
		t.Errorf("signed in, GET of a missing session answered %d, want 404", code)
	}
	if code, _ := request(t, "DELETE", s.Ops+apiPrefix+"/sessions/x", good.Value); code != http.StatusUnauthorized {
		t.Errorf("signed in, DELETE through the API answered %d, want 401 (writes need a key)", code)
	}
	if code, _ := request(t, "POST", s.Ops+apiPrefix+"/customers/takeout", good.Value); code != http.StatusUnauthorized {
		t.Errorf("signed in, a customer's takeout answered %d, want 401 (it needs a key)", code)
	}
	// A replay sends every session to a sink: through the API it needs a
	// key, and through the inspector the page's CSRF token.
	if code, _ := request(t, "POST", s.Ops+apiPrefix+"/sinks/webhook/replay?since=2026-01-01T00:00:00Z", good.Value); code != http.StatusUnauthorized {
		t.Errorf("signed in, a replay through the API answered %d, want 401 (it needs a key)", code)
	}
	if code, _ := request(t, "POST", ui+"/sinks/webhook/replay?since=2026-01-01T00:00:00Z", good.Value); code != http.StatusForbidden {
		t.Errorf("signed in without the CSRF token, a replay through the inspector answered %d, want 403", code)
	}
}

func request(t *testing.T, method, u, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: inspector.CookieName, Value: cookie})
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// oldSigningKey is how sign-ins were signed when the key came from the API
// keys.
func oldSigningKey(apiKey string) []byte {
	h := sha256.New()
	h.Write([]byte("sessiontap inspector cookie v1"))
	s := sha256.Sum256([]byte(apiKey))
	h.Write(s[:])
	return h.Sum(nil)
}

package inspector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
)

const testKey = "inspector-test-key"

func newTestInspector(t *testing.T) *Inspector {
	t.Helper()
	store, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	in, err := New(Config{Prefix: "/p", CheckKey: func(k string) bool { return k == testKey },
		SigningKey: SigningKey([]byte(testKey)), Feed: feed.NewRing(10), Store: store}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func serve(in *Inspector, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	in.ServeHTTP(w, r)
	return w
}

// signInCookie signs in with the key and returns the cookie set.
func signInCookie(t *testing.T, in *Inspector) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest("POST", "/p/ui/login", strings.NewReader(url.Values{"key": {testKey}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := serve(in, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/p/ui/" {
		t.Fatalf("sign-in: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/p/" || c[0].MaxAge <= 0 || c[0].MaxAge > 3600 {
		t.Fatalf("sign-in cookie %+v: want HttpOnly, SameSite=Strict, Path=/p/, at most an hour", c)
	}
	return c[0]
}

// The routes that must need a sign-in, by method.
var protected = [][2]string{
	{"GET", "/p/ui/"}, {"GET", "/p/ui/index.html"}, {"GET", "/p/ui/app.js"}, {"GET", "/p/ui/me"},
	{"GET", "/p/ui/events"}, {"GET", "/p/ui/summary"}, {"HEAD", "/p/ui/me"}, {"POST", "/p/ui/search"},
	{"POST", "/p/ui/logout"}, {"POST", "/p/ui/sessions/x/retry?sink=webhook"}, {"GET", "/p/ui/nothing"},
}

func TestEveryRouteNeedsAValidCookie(t *testing.T) {
	in := newTestInspector(t)
	good := signInCookie(t, in)
	parts := strings.Split(good.Value, ".")
	past := in.signer.now().Add(-time.Minute).Unix()
	expiredBody := "v1." + itoa64(past) + "." + parts[2]
	// Signed right, but expiring later than any sign-in does.
	farBody := "v1." + itoa64(in.signer.now().Add(48*time.Hour).Unix()) + "." + parts[2]
	cookies := map[string]string{
		"none":       "",
		"forged MAC": parts[0] + "." + parts[1] + "." + parts[2] + "." + strings.Repeat("A", len(parts[3])),
		"extended":   "v1." + itoa64(past+1e6) + "." + parts[2] + "." + parts[3],
		"expired":    expiredBody + "." + in.signer.mac(expiredBody),
		"other key":  otherSigner().issueValue(),
		"too far":    farBody + "." + in.signer.mac(farBody),
		"garbage":    "v1.x",
	}
	for name, v := range cookies {
		for _, rt := range protected {
			r := httptest.NewRequest(rt[0], rt[1], nil)
			if v != "" {
				r.AddCookie(&http.Cookie{Name: CookieName, Value: v})
			}
			w := serve(in, r)
			switch {
			case w.Code == http.StatusUnauthorized:
			case w.Code == http.StatusSeeOther && w.Header().Get("Location") == "/p/ui/login" && rt[0] == "GET":
			default:
				t.Errorf("cookie %s: %s %s answered %d, want 401 or a redirect to sign in", name, rt[0], rt[1], w.Code)
			}
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func otherSigner() *signer {
	return &signer{key: SigningKey([]byte("another key")), ttl: time.Hour, now: time.Now}
}

func (s *signer) issueValue() string { v, _ := s.issue(); return v }

func TestWrongKeyDoesNotSignIn(t *testing.T) {
	in := newTestInspector(t)
	for _, key := range []string{"", "wrong", testKey + "x"} {
		r := httptest.NewRequest("POST", "/p/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := serve(in, r)
		if len(w.Result().Cookies()) != 0 || w.Header().Get("Location") != "/p/ui/login?failed=1" {
			t.Errorf("key %q: %d to %q with cookies %v", key, w.Code, w.Header().Get("Location"), w.Result().Cookies())
		}
	}
}

func TestWritesNeedTheCSRFTokenOfTheSignIn(t *testing.T) {
	in := newTestInspector(t)
	c := signInCookie(t, in)
	g, _ := in.signer.check(c.Value)
	other, _ := in.signer.check(signInCookie(t, in).Value)
	for name, tok := range map[string]string{"none": "", "another sign-in's": in.signer.csrf(other), "made up": "abc"} {
		r := httptest.NewRequest("POST", "/p/ui/logout", nil)
		r.AddCookie(c)
		if tok != "" {
			r.Header.Set(csrfHeader, tok)
		}
		if w := serve(in, r); w.Code != http.StatusForbidden {
			t.Errorf("%s token: logout answered %d, want 403", name, w.Code)
		}
	}
	r := httptest.NewRequest("POST", "/p/ui/logout", nil)
	r.AddCookie(c)
	r.Header.Set(csrfHeader, in.signer.csrf(g))
	r.Header.Set("Origin", "http://evil.example")
	if w := serve(in, r); w.Code != http.StatusForbidden {
		t.Errorf("another origin with the right token: %d, want 403", w.Code)
	}
	r.Header.Set("Origin", "http://"+r.Host)
	if w := serve(in, r); w.Code != http.StatusSeeOther || w.Result().Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %v: want the cookie cleared", w.Code, w.Result().Cookies())
	}
}

func TestPagesCarryTheSecurityHeaders(t *testing.T) {
	in := newTestInspector(t)
	c := signInCookie(t, in)
	for _, p := range []string{"/p/ui/login", "/p/ui/", "/p/ui/app.js", "/p/ui/style.css"} {
		r := httptest.NewRequest("GET", p, nil)
		r.AddCookie(c)
		w := serve(in, r)
		csp := w.Header().Get("Content-Security-Policy")
		if w.Code != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, CSP %q, headers %v", p, w.Code, csp, w.Header())
		}
	}
}

func TestSignInFromElsewhereOrGuessingIsRefused(t *testing.T) {
	in := newTestInspector(t)
	form := func(key string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/p/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return serve(in, r)
	}
	for _, hdr := range [][]string{{"Origin", "null"}, {"Origin", "https://example.com"}, {"Origin", "https://" + "example.com"},
		{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}} {
		if w := form(testKey, hdr...); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
			t.Errorf("sign-in with %v: %d, cookies %v; want 403 and none", hdr, w.Code, w.Result().Cookies())
		}
	}
	if w := form(testKey, "Origin", "http://example.com"); w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		t.Errorf("sign-in from our own origin (httptest's host is example.com): %d", w.Code)
	}
	for range 5 {
		form("guess")
	}
	if w := form(testKey); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("after 5 wrong keys, the guesser's right key answered %d; want 429 with Retry-After", w.Code)
	}
	// The guessing is held per client: an operator elsewhere signs in.
	r := httptest.NewRequest("POST", "/p/ui/login", strings.NewReader(url.Values{"key": {testKey}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "198.51.100.7:5555"
	if w := serve(in, r); w.Code != http.StatusSeeOther {
		t.Errorf("another client's right key answered %d while someone else was guessing", w.Code)
	}
}

// The shop (www.shop.example) and the operators' site (ops.shop.example)
// are one site: SameSite=Strict sends the cookie on the shop's requests to
// the inspector, so data goes only to requests from the inspector's own
// origin. A page is still served, so that the shop may link to it.
func TestDataOnlyToOurOwnOrigin(t *testing.T) {
	in := newTestInspector(t)
	c := signInCookie(t, in)
	get := func(path string, hdr ...string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(c)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return serve(in, r).Code
	}
	for _, path := range []string{"/p/ui/me", "/p/ui/summary"} {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://www.example.com"}} {
			if code := get(path, hdr...); code != http.StatusForbidden {
				t.Errorf("GET %s with %v: %d; want 403", path, hdr, code)
			}
		}
		if code := get(path, "Sec-Fetch-Site", "same-origin"); code != http.StatusOK {
			t.Errorf("GET %s from our own page: %d; want 200 (the control)", path, code)
		}
	}
	if code := get("/p/ui/", "Sec-Fetch-Site", "same-site"); code != http.StatusOK {
		t.Errorf("the inspector page opened from the shop's link: %d; want 200", code)
	}
	r := httptest.NewRequest("GET", "/p/sessions/x", nil)
	r.AddCookie(c)
	r.Header.Set("Sec-Fetch-Site", "same-site")
	if in.Authorized(r) {
		t.Error("a same-site request with the cookie may read the API")
	}
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if !in.Authorized(r) {
		t.Error("our own page's request may not read the API (the control)")
	}
}

// A cookie of our name planted with a longer path comes first: it must
// not sign the operator out.
func TestAPlantedCookieDoesNotHideTheSignIn(t *testing.T) {
	in := newTestInspector(t)
	c := signInCookie(t, in)
	r := httptest.NewRequest("GET", "/p/ui/me", nil)
	r.Header.Set("Cookie", CookieName+"=planted; "+CookieName+"="+c.Value)
	if w := serve(in, r); w.Code != http.StatusOK {
		t.Errorf("a planted cookie before the sign-in's: %d, want 200", w.Code)
	}
	r.Header.Set("Cookie", CookieName+"=planted")
	if w := serve(in, r); w.Code != http.StatusUnauthorized {
		t.Errorf("the planted cookie alone: %d, want 401", w.Code)
	}
}

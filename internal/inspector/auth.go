package inspector

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/respond"
)

// CookieName is the inspector's sign-in cookie.
const CookieName = "sessiontap_inspector"

// The cookie's value is "v1.<expiry unix>.<nonce>.<mac>", the MAC an
// HMAC-SHA256 of the rest under the signing key. Nothing is kept on the
// server: any node with the same key accepts it, and a key rotation
// signs everyone out.

// signer issues and checks sign-in cookies and their CSRF tokens.
type signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

var b64 = base64.RawURLEncoding

func (s *signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, ".")))
	return b64.EncodeToString(m.Sum(nil))
}

// issue returns a new cookie value and when it expires.
func (s *signer) issue() (string, time.Time) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	body := "v1." + strconv.FormatInt(exp.Unix(), 10) + "." + b64.EncodeToString(nonce[:])
	return body + "." + s.mac(body), exp
}

// grant is a checked sign-in.
type grant struct {
	nonce   string
	expires time.Time
}

// check verifies a cookie value: its MAC, and that it has not expired.
func (s *signer) check(v string) (grant, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return grant{}, false
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(s.mac(body))) {
		return grant{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	now := s.now()
	// Never longer than a sign-in lasts: a cookie minted by hand with a
	// far expiry (by whoever has the signing key) is refused too.
	if err != nil || !now.Before(time.Unix(exp, 0)) || time.Unix(exp, 0).After(now.Add(s.ttl+time.Minute)) {
		return grant{}, false
	}
	return grant{nonce: parts[2], expires: time.Unix(exp, 0)}, true
}

// csrf is the token state-changing requests carry in csrfHeader: bound to
// the sign-in, so a token read from one sign-in is useless with another.
func (s *signer) csrf(g grant) string { return s.mac("csrf", g.nonce) }

const csrfHeader = "X-Sessiontap-Csrf"

// signedIn returns the request's grant, if one of its cookies of our name
// is valid: a script of another port of the host, or a sibling subdomain,
// can set one with a longer path, which browsers send first, and must not
// sign the operator out by it.
func (in *Inspector) signedIn(r *http.Request) (grant, bool) {
	for _, c := range r.CookiesNamed(CookieName) {
		if g, ok := in.signer.check(c.Value); ok {
			return g, true
		}
	}
	return grant{}, false
}

// Authorized reports whether r carries a valid sign-in cookie and comes
// from our own pages: the operator API lets such requests read (GET and
// HEAD only).
func (in *Inspector) Authorized(r *http.Request) bool {
	_, ok := in.signedIn(r)
	return ok && in.fromHere(r)
}

// sameOrigin refuses cross-site writes: SameSite=Strict keeps the cookie
// off them in today's browsers, the CSRF token (a header, which no form
// can send) in the others, and the origin checks when a token leaked.
func (in *Inspector) sameOrigin(r *http.Request, g grant) bool {
	if !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(in.signer.csrf(g))) {
		return false
	}
	return in.fromHere(r)
}

// fromHere reports whether a browser's request may come from our own
// pages: not marked as from another origin, and with no Origin or our own
// (scheme and host; "null", from sandboxes and some redirects, is not
// ours). "same-site" is refused too: the shop (www.shop.example) and the
// operators' site (ops.shop.example) are usually one site, and
// SameSite=Strict lets the cookie ride along on the shop's requests.
func (in *Inspector) fromHere(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	scheme := "http://"
	if in.secure(r) {
		scheme = "https://"
	}
	return o == scheme+r.Host
}

// secure reports a request that came over HTTPS as far as we can tell.
func (in *Inspector) secure(r *http.Request) bool {
	if in.cfg.Secure != nil {
		return in.cfg.Secure(r)
	}
	return r.TLS != nil
}

func (in *Inspector) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: in.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: in.secure(r),
	})
}

// signIn takes the API key from the sign-in form. Wrong keys are
// limited per process, so that keys cannot be guessed at speed.
func (in *Inspector) signIn(w http.ResponseWriter, r *http.Request) {
	if !in.fromHere(r) {
		respond.Error(w, http.StatusForbidden, "sign in from the inspector's own page")
		return
	}
	if wait := in.guesses.Wait(r); wait > 0 {
		respond.TooMany(w, wait, "too many wrong keys from this network; try again later")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !in.checkKey(r.PostFormValue("key")) {
		in.guesses.Failed(r)
		in.log("inspector sign-in refused: wrong key")
		http.Redirect(w, r, in.ui+"/login?failed=1", http.StatusSeeOther)
		return
	}
	v, exp := in.signer.issue()
	in.setCookie(w, r, v, int(time.Until(exp).Seconds()))
	http.Redirect(w, r, in.ui+"/", http.StatusSeeOther)
}

func (in *Inspector) signOut(w http.ResponseWriter, r *http.Request) {
	in.setCookie(w, r, "", -1)
	http.Redirect(w, r, in.ui+"/login", http.StatusSeeOther)
}

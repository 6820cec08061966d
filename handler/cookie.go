package handler

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// macBytes is how much of the HMAC-SHA256 our cookie carries: 128 bits,
// as much as the id it protects.
const macBytes = 16

// macChars is the MAC's length in unpadded base64url.
var macChars = base64.RawURLEncoding.EncodedLen(macBytes)

// MinCookieKey is the shortest key that may sign our cookie.
const MinCookieKey = 16

// cookieSigner signs and verifies our cookie's value,
// "<id>.<stamp>.<mac>": the id and the day it was stamped (model's
// CookieValue) and an HMAC over both. Only a cookie we issued verifies, so
// a value someone else chose (planted from a sibling domain, guessed,
// copied from an earlier format) never becomes a session id.
//
// Every tracked request verifies one, so the HMACs are pooled with their
// buffers: verifying allocates nothing.
type cookieSigner struct{ macs *sync.Pool }

// macState is one pooled HMAC with room for a payload and its sum.
type macState struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

func newCookieSigner(key []byte) cookieSigner {
	if len(key) == 0 {
		// A library user who gives no key gets one for this process:
		// cookies then verify until it restarts.
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return cookieSigner{macs: &sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 64), sum: make([]byte, 0, sha256.Size)}
	}}}
}

// mac computes the cut MAC of payload and hands it to use, whose slice
// is valid only during the call.
func (c cookieSigner) mac(payload string, use func(mac []byte)) {
	m := c.macs.Get().(*macState)
	defer c.macs.Put(m)
	m.h.Reset()
	m.buf = append(m.buf[:0], payload...)
	m.h.Write(m.buf)
	m.sum = m.h.Sum(m.sum[:0])
	use(m.sum[:macBytes])
}

// sign returns the cookie value for id stamped on day.
func (c cookieSigner) sign(id string, day int64) string {
	payload := model.CookieValue(id, day)
	var out string
	c.mac(payload, func(mac []byte) { out = payload + "." + base64.RawURLEncoding.EncodeToString(mac) })
	return out
}

// verify returns the id and day of a value sign made; ok is false for
// anything else.
func (c cookieSigner) verify(v string) (id string, day int64, ok bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || len(v)-i-1 != macChars {
		return "", 0, false
	}
	var got [macBytes]byte
	if n, err := base64.RawURLEncoding.Decode(got[:], []byte(v[i+1:])); err != nil || n != macBytes {
		return "", 0, false
	}
	payload := v[:i]
	c.mac(payload, func(mac []byte) { ok = hmac.Equal(got[:], mac) })
	if !ok {
		return "", 0, false
	}
	return model.ParseCookieValue(payload)
}

// setCookie issues our cookie for id. It is set when the answer's headers
// go out, and not at all on an answer that a shared cache may store: such
// a cache would hand the one session to every visitor it serves. The
// cookie then comes with the visitor's next private answer.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, id string, day int64) http.ResponseWriter {
	c := http.Cookie{
		Name:     h.cfg.CookieName,
		Value:    h.signer.sign(id, day),
		Path:     "/",
		MaxAge:   int(h.cfg.CookieMaxAge / time.Second),
		HttpOnly: true,
		Secure:   h.secure(r) || prefixedCookie(h.cfg.CookieName),
		SameSite: http.SameSiteLaxMode,
	}
	if cw, ok := w.(*cookieWriter); ok && !cw.done {
		// One Set-Cookie of ours per answer: a session moved to a fresh
		// id (rotate) after identify renewed the old one must not send
		// both, for the browser would keep the last.
		cw.cookie = c.String()
		return cw
	}
	return &cookieWriter{ResponseWriter: w, cookie: c.String()}
}

// secure reports a request that came over HTTPS as far as we can tell.
func (h *Handler) secure(r *http.Request) bool {
	if h.cfg.Secure != nil {
		return h.cfg.Secure(r)
	}
	return r.TLS != nil
}

// prefixedCookie reports a name with a prefix browsers enforce: a
// "__Host-" cookie must be Secure with Path=/ and no Domain, so no other
// site, a sibling subdomain included, can set one for the shop's host;
// "__Secure-" must be Secure.
func prefixedCookie(name string) bool {
	return strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-")
}

// cookieWriter adds our Set-Cookie to the answer when its header is
// written, unless the answer may be stored by a shared cache.
type cookieWriter struct {
	http.ResponseWriter
	cookie string
	done   bool
}

func (c *cookieWriter) WriteHeader(code int) {
	switch {
	case code < 200 && code >= 100:
		// Informational: the real answer follows.
	case code == http.StatusNotModified || code == http.StatusMovedPermanently || code == http.StatusPermanentRedirect:
		// A 304 updates what a cache stored, and permanent redirects are
		// cached without being told: none may carry a visitor's cookie.
		c.done = true
	default:
		c.addCookie()
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cookieWriter) Write(p []byte) (int, error) {
	c.addCookie()
	return c.ResponseWriter.Write(p)
}

func (c *cookieWriter) addCookie() {
	if c.done {
		return
	}
	c.done = true
	if !sharedCacheable(c.Header()) {
		c.Header().Add("Set-Cookie", c.cookie)
	}
}

// Unwrap lets http.NewResponseController reach Flush, Hijack and the
// deadlines of the writer underneath.
func (c *cookieWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

package handler

import (
	"net/http"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Identity is who a request belongs to.
type Identity struct {
	// ID is the session id; empty when the request is not tracked.
	ID string
	// Source says where ID came from: "cookie" (our own), "new", or
	// "cookie:<name>" / "header:<name>" for an external id.
	Source string
	// Tracked is false when the visitor asked not to be tracked (DNT,
	// Sec-GPC, the opt-out cookie): nothing about the request is stored.
	Tracked bool
}

// identify finds or issues the session id of r. When it issues our cookie
// (a new session, or a renewal) the writer it returns sets it.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (Identity, http.ResponseWriter) {
	if !h.tracked(r) {
		return Identity{}, w
	}
	for _, src := range h.cfg.Sources {
		if id := external(r, src); id != "" {
			return Identity{ID: id, Source: src.From + ":" + src.Name, Tracked: true}, w
		}
	}
	today := h.day()
	// A value that does not verify is not ours, whoever set it: it starts
	// a new session under a new id, never under the one offered.
	id, issued, found := h.ownCookie(r, today)
	if found == cookieAmbiguous {
		// Two sessions of ours: one was tossed in by another site, and
		// nothing tells which. Neither is used nor re-set (a re-set would
		// make the tossed one the visitor's everywhere).
		return Identity{}, w
	}
	if found == cookieOne {
		// Re-set at most once a day: enough to keep max_age sliding
		// without a Set-Cookie on every response.
		if issued != today {
			w = h.setCookie(w, r, id, today)
		}
		return Identity{ID: id, Source: "cookie", Tracked: true}, w
	}
	if crossSiteWrite(r) {
		// A SameSite=Lax cookie stays home on another site's POST (a 3-D
		// Secure or payment provider's return), so its absence says
		// nothing: a new cookie would replace the visitor's session.
		return Identity{}, w
	}
	if !h.mayStartSession(r) {
		return Identity{Source: sourceLimited}, w
	}
	id = model.NewID()
	return Identity{ID: id, Source: "new", Tracked: true}, h.setCookie(w, r, id, today)
}

// crossSiteWrite reports a request with side effects that another site
// made the browser send.
func crossSiteWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return refuseCollect(r) != ""
}

// What ownCookie found.
const (
	cookieNone = iota
	cookieOne
	cookieAmbiguous
)

// maxOwnCookies bounds the cookies of our name that are verified: a
// browser holds one or two; a header packed with more is not one.
const maxOwnCookies = 4

// ownCookie finds our cookie: the values of our name that verify and are
// not older than the cookie's lifetime. A browser sends every cookie of
// that name that applies, one set for the parent domain by a sibling site
// first where its path is longer: a forged one must not hide ours, and a
// real one of ours tossed in beside it makes the request ambiguous.
func (h *Handler) ownCookie(r *http.Request, today int64) (id string, day int64, found int) {
	seen := 0
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != h.cfg.CookieName {
				continue
			}
			if seen++; seen > maxOwnCookies {
				return id, day, found
			}
			vid, vday, ok := h.signer.verify(strings.Trim(v, `"`))
			switch {
			case !ok || h.expired(vday, today):
			case found == cookieNone:
				id, day, found = vid, vday, cookieOne
			case vid != id:
				return "", 0, cookieAmbiguous
			}
		}
	}
	return id, day, found
}

// expired reports a cookie stamped longer ago than it may live: a value
// copied once must not stay a key for ever.
func (h *Handler) expired(stamped, today int64) bool {
	days := int64(h.cfg.CookieMaxAge/(24*time.Hour)) + 1
	return today-stamped > days || stamped > today+1
}

// tracked reports whether the visitor lets us keep a session.
func (h *Handler) tracked(r *http.Request) bool {
	// Canonical keys: Header.Get would canonicalize "DNT" with an allocation
	// on every request.
	if h.cfg.RespectDNT && (first(r.Header["Dnt"]) == "1" || first(r.Header["Sec-Gpc"]) == "1") {
		return false
	}
	if h.cfg.OptOutCookie != "" {
		if _, found := cookie(r, h.cfg.OptOutCookie); found {
			return false
		}
	}
	return true
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[0])
}

// external reads an external session id, or "" when absent or unusable.
func external(r *http.Request, src IDSource) string {
	var v string
	if src.From == "header" {
		v = r.Header.Get(src.Name)
	} else {
		v, _ = cookie(r, src.Name)
	}
	if !model.ValidID(v) {
		return ""
	}
	return v
}

// day is today's number since the epoch (UTC), stamped into our cookie.
func (h *Handler) day() int64 { return h.now().Unix() / 86400 }

// cookie finds a cookie's value without r.Cookie's allocations: every
// proxied request looks up two or three cookies, and r.Cookie parses the
// whole header into new Cookie values each time.
func cookie(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

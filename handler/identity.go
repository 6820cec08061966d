package handler

import (
	"net/http"
	"strings"

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
	if id, issued, ok := h.ownCookie(r); ok {
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
	id := model.NewID()
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

// ownCookie finds the first of our cookies that verifies. A browser sends
// every cookie of that name that applies, and one set for the parent
// domain by a sibling site may come first: it must not hide ours.
func (h *Handler) ownCookie(r *http.Request) (id string, day int64, ok bool) {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != h.cfg.CookieName {
				continue
			}
			if id, day, ok = h.signer.verify(strings.Trim(v, `"`)); ok {
				return id, day, true
			}
		}
	}
	return "", 0, false
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

package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// maxPlaceholder bounds a placeholder's value: they end up in headers.
const maxPlaceholder = 4096

// preparePlaceholders answers every {sessiontap.*} placeholder of r, empty
// until setPlaceholders names the request's session. An untracked request
// (DNT, Sec-GPC, the opt-out cookie) never gets a session, and must hand
// the shop empty values, not the placeholders' literal text.
func (h *Handler) preparePlaceholders(r *http.Request) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	rs := &requestSession{h: h, r: r}
	// Kept in the request's vars so that setPlaceholders and
	// sessionWritten can find it.
	caddyhttp.SetVar(r.Context(), requestSessionVar, rs)
	repl.Map(rs.placeholder)
}

// setPlaceholders makes the session available to the rest of the route as
// {sessiontap.*}. {sessiontap.id} is the id itself; the others read the
// session from the store the first time one of them is used in a request,
// so requests that use none pay nothing.
func (h *Handler) setPlaceholders(r *http.Request, id handler.Identity) {
	if rs, ok := caddyhttp.GetVar(r.Context(), requestSessionVar).(*requestSession); ok {
		rs.id = id.ID
	}
	// The access log carries the session's pseudonym, never its id: the
	// id is the key to the session (a shop's own session id too), and
	// logs are read and kept far from the visitor.
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.Stringer("sessiontap_id", logPseudonym{h.pseudonyms, id.ID}))
	}
}

// logPseudonym is a session's pseudonym for the access log, computed only
// when a line is written: Caddy hands every request the extra fields, but
// most sites log few requests or none, and an HMAC per request would be
// paid for nothing.
type logPseudonym struct {
	p  *delivery.Pseudonyms
	id string
}

func (l logPseudonym) String() string { return l.p.Of(l.id) }

// requestSessionVar is the vars key of a request's requestSession.
const requestSessionVar = "sessiontap.request_session"

// requestSession is the session as this request sees it: read at the
// first placeholder, replaced by each write the request makes. Like the
// Replacer it belongs to one request and one goroutine.
type requestSession struct {
	h *Handler
	r *http.Request
	// id is the session's id, "" while the request has none (untracked).
	id     string
	s      *model.Session
	loaded bool
	// failed: the store could not say. Placeholders are then empty, not
	// the zero values of a new session: "0" would be a false cart count.
	failed bool
}

func (rs *requestSession) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "sessiontap.")
	if !ok {
		return nil, false
	}
	if name == "id" {
		return rs.id, true
	}
	if rs.id == "" {
		// Untracked: ours, but empty.
		_, known := sessionPlaceholder(nil, name, rs.h.hasher)
		return "", known
	}
	if !rs.loaded {
		// Tried once per request, whatever the outcome: a store that is
		// down must not be waited for at every placeholder.
		rs.loaded = true
		// This request's own capture, if queued, is stored first: a
		// placeholder read after the response (log_append) shows it.
		ctx, cancel := context.WithTimeout(rs.r.Context(), settleWait)
		rs.h.handler.Settle(ctx, rs.id)
		cancel()
		var err error
		rs.s, err = rs.h.store.Get(rs.r.Context(), rs.id)
		rs.failed = err != nil && !errors.Is(err, cache.ErrNotFound)
	}
	v, ok := sessionPlaceholder(rs.s, name, rs.h.hasher)
	if ok && rs.failed {
		return "", true
	}
	return v, ok
}

// String keeps the session out of {http.vars.*}: only its id shows.
func (rs *requestSession) String() string { return rs.id }

// sessionWritten keeps the request's placeholders current: a header set
// before capture read the old session, but log_append, which runs after
// the response, must see what capture stored.
func sessionWritten(ctx context.Context, s *model.Session) {
	if rs, ok := caddyhttp.GetVar(ctx, requestSessionVar).(*requestSession); ok && rs.id == s.ID {
		rs.s, rs.loaded, rs.failed = s, true, false
	}
}

// sessionQueued marks the request's view of the session out of date: a
// write of it was queued for after the response, and a placeholder read
// from now on waits for it.
func sessionQueued(ctx context.Context, id string) {
	if rs, ok := caddyhttp.GetVar(ctx, requestSessionVar).(*requestSession); ok && rs.id == id {
		rs.s, rs.loaded, rs.failed = nil, false, false
	}
}

// detachWrite is the context of a write made after the response: the
// request's variables are its own (not safe to share with another
// goroutine), so the write gets a copy of the one it reads, the
// client's address, and no cancellation.
func detachWrite(ctx context.Context) context.Context {
	vars := map[string]any{}
	if ip, ok := caddyhttp.GetVar(ctx, caddyhttp.ClientIPVarKey).(string); ok {
		vars[caddyhttp.ClientIPVarKey] = ip
	}
	return context.WithValue(context.Background(), caddyhttp.VarsCtxKey, vars)
}

// sessionPlaceholder is the value of {sessiontap.<name>} for s (nil: the
// session is not stored yet). Unknown names are not ours.
func sessionPlaceholder(s *model.Session, name string, hasher *delivery.Hasher) (any, bool) {
	if s == nil {
		s = &model.Session{}
	}
	var v string
	switch name {
	case "version":
		v = strconv.FormatUint(s.Version, 10)
	case "page_type":
		v = string(s.PageType)
	case "cart.count":
		v = strconv.Itoa(s.Cart.Count())
	case "cart.total":
		v = s.Cart.Total().String()
	case "cart.currency":
		if len(s.Cart.Items) > 0 {
			v = s.Cart.Items[0].PriceCurrencyCode
		}
	case "effects":
		v = compactJSON(s.Effects)
	case "customer.ref_hash":
		// A claimed customer is nobody's login: the shop must not act on it.
		v = hasher.Hash(s.Customer.Trusted().CustomerReference)
	case "customer.logged_in":
		c := s.Customer.Trusted()
		v = strconv.FormatBool(c.CustomerReference != "" || c.Email != "")
	case "state":
		v = string(s.State)
	case "variation":
		v = s.Variation
	case "page_views":
		v = strconv.Itoa(s.Enrichment.PageViews)
	case "landing_page":
		v = s.Enrichment.LandingPage
	case "utm_source":
		v = s.Enrichment.Campaign.Source
	case "utm_medium":
		v = s.Enrichment.Campaign.Medium
	case "utm_campaign":
		v = s.Enrichment.Campaign.Name
	default:
		return nil, false
	}
	return headerSafe(v), true
}

// compactJSON puts raw JSON on one line, or "" when it would not fit a
// header: a cut JSON document is worse than none.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil || b.Len() > maxPlaceholder {
		return ""
	}
	return b.String()
}

// headerSafe makes v fit a header line and bounds its length. Every C0
// control and DEL becomes a space: Go's HTTP client refuses a request
// whose header holds one, so a single %01 in a visitor's utm_source would
// otherwise make every later request of that visitor fail at the proxy.
// Cleaned rather than dropped, so the rest of the value still serves.
func headerSafe(v string) string {
	if strings.ContainsFunc(v, isControl) {
		v = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, v)
	}
	if len(v) > maxPlaceholder {
		v = v[:maxPlaceholder]
	}
	return v
}

// isControl reports whether r is a C0 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

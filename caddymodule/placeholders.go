package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	sessiontap "github.com/sessiontap/caddy-sessiontap"
	"github.com/sessiontap/caddy-sessiontap/handler"
)

// maxPlaceholder bounds a placeholder's value: they end up in headers.
const maxPlaceholder = 4096

// setPlaceholders makes the session available to the rest of the route as
// {sessiontap.*}. Only {sessiontap.id} is set eagerly; the others read the
// session from the store the first time one of them is used in a request,
// so requests that use none pay nothing.
func (h *Handler) setPlaceholders(r *http.Request, id handler.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set("sessiontap.id", id.ID)
	var (
		s      *sessiontap.Session
		loaded bool
	)
	repl.Map(func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, "sessiontap.")
		if !ok {
			return nil, false
		}
		if !loaded {
			loaded = true
			s, _ = h.store.Get(r.Context(), id.ID)
		}
		return sessionPlaceholder(s, name)
	})
}

// sessionPlaceholder is the value of {sessiontap.<name>} for s (nil: the
// session is not stored yet). Unknown names are not ours.
func sessionPlaceholder(s *sessiontap.Session, name string) (any, bool) {
	if s == nil {
		s = &sessiontap.Session{}
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

// headerSafe removes what would break a header line and bounds the length.
func headerSafe(v string) string {
	if strings.ContainsAny(v, "\r\n\x00") {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
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

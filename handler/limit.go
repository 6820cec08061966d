package handler

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// DefaultCollectBody caps a collect request's body unless configured: a
// 100-line cart with 60-character names, a customer and a page type is
// about 19 KB of JSON (TestCollectBodyFitsALargeCart); 24 KiB leaves a
// quarter over that. The cap is also about what one collect can add to
// the store, so it is kept close rather than generous.
const DefaultCollectBody = 24 << 10

// Limits says whether a client may make the visitor path store something
// now. The Caddy glue keys it by client network (Caddy's client IP,
// trusted_proxies honoured) and counts its refusals.
type Limits interface {
	// NewSession takes a token for issuing r's client a new session.
	NewSession(r *http.Request) bool
	// NewSessionWait is how long until r's client may have a new session,
	// without taking a token: the Retry-After of a refused collect.
	NewSessionWait(r *http.Request) time.Duration
	// Collect takes a token for a collect write; when there is none it
	// says how long until there is.
	Collect(r *http.Request) (bool, time.Duration)
}

// sourceLimited is the Source of a request refused a new session: it is
// served untracked, and a collect is answered 429.
const sourceLimited = "limited"

// mayStartSession reports whether r's client may be given a new session.
func (h *Handler) mayStartSession(r *http.Request) bool {
	return h.cfg.Limits == nil || h.cfg.Limits.NewSession(r)
}

// allowCollect answers and returns false when the collect must not be
// read: 429 when its client has used up its collects, 413 when it says its
// body is over the cap. (A client refused a new session is answered 429
// once identify says so.)
func (h *Handler) allowCollect(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Limits != nil {
		if ok, wait := h.cfg.Limits.Collect(r); !ok {
			respond.TooMany(w, wait, "too many collect requests from this network; nothing was stored, try again later")
			return false
		}
	}
	// Refused before reading: the body could only be read to be dropped.
	// A body without a length is cut where the cap is (400 from decoding).
	if r.ContentLength > h.collectBody() {
		respond.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes; nothing was stored", h.collectBody()))
		return false
	}
	return true
}

// collectBody is the configured cap on a collect body.
func (h *Handler) collectBody() int64 {
	if h.cfg.CollectBody > 0 {
		return h.cfg.CollectBody
	}
	return DefaultCollectBody
}

// sessionSize is the bound on a session's encoding the store enforces for
// this handler, for the 413's message.
func (h *Handler) sessionSize() int {
	if h.cfg.SessionSize > 0 {
		return min(h.cfg.SessionSize, model.MaxEncodedSize)
	}
	return model.MaxEncodedSize
}

// Package inspector is sessiontap's live inspector for operators: a page
// in the browser, under the operator API's prefix ({prefix}/ui/), that
// lists recently changed sessions live (Server-Sent Events), shows one
// session with its history and each sink's delivery status, and retries a
// delivery. Its files are embedded; nothing comes from a CDN. Signing in
// takes an API key and gives a short-lived, HttpOnly, SameSite=Strict
// cookie scoped to the prefix. It is net/http only; the Caddy glue
// (caddymodule) routes requests here and provides the parts.
package inspector

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
)

// DefaultTTL is how long a sign-in lasts unless configured.
const DefaultTTL = time.Hour

//go:embed assets
var assets embed.FS

// Config is what the inspector is built from, validated by the Caddy glue.
type Config struct {
	// Prefix is the operator API's prefix; the inspector lives at
	// Prefix + "/ui/".
	Prefix string
	// CheckKey reports whether key is an API key (constant time).
	CheckKey func(key string) bool
	// SigningKey signs the sign-in cookies. Nodes that share it accept
	// each other's cookies.
	SigningKey []byte
	// TTL is how long a sign-in lasts; DefaultTTL when 0.
	TTL time.Duration
	// Feed is the live feed of session changes.
	Feed feed.Feed
	// Store is the session store (search).
	Store cache.Store
	// Deliveries returns each sink's status of a session; nil without sinks.
	Deliveries func(ctx context.Context, id string) ([]delivery.DeliveryStatus, error)
	// Retry retries a session's delivery to one sink now.
	Retry func(ctx context.Context, id, sink string) (string, error)
	// Replay starts a replay to a sink (delivery.Engine.Replay);
	// ReplayStatus reads it. Nil without sinks.
	Replay       func(ctx context.Context, sink string, since time.Time) (any, error)
	ReplayStatus func(ctx context.Context, sink string) (any, error)
	// Summary returns the figures of the summary strip.
	Summary func(ctx context.Context) any
	// RefHash is the customer reference's pseudonym, as sinks get it.
	RefHash func(ref string) string
	// Guesses throttles wrong sign-in keys per client (share the API's so
	// that one budget covers both). Nil throttles them per peer address.
	Guesses Guesser
	// Secure reports a request that reached the operator over HTTPS (TLS
	// to Caddy, or a trusted proxy that terminated it). Without it, only
	// TLS to Caddy counts.
	Secure func(*http.Request) bool
}

// Inspector serves {prefix}/ui/.
type Inspector struct {
	cfg    Config
	prefix string
	ui     string
	signer *signer
	static fs.FS
	logger *zap.Logger
	// guesses bounds wrong sign-in keys per client.
	guesses Guesser
}

// New builds the inspector. log may be nil.
func New(cfg Config, log *zap.Logger) (*Inspector, error) {
	if cfg.CheckKey == nil || len(cfg.SigningKey) < 16 || cfg.Feed == nil || cfg.Store == nil {
		return nil, errors.New("inspector: a key check, a signing key of 16 bytes or more, a feed and a store are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if log == nil {
		log = zap.NewNop()
	}
	static, _ := fs.Sub(assets, "assets") // the directory is embedded
	prefix := strings.TrimSuffix(cfg.Prefix, "/")
	return &Inspector{cfg: cfg, prefix: prefix, ui: prefix + "/ui", static: static, logger: log,
		signer: &signer{key: cfg.SigningKey, ttl: cfg.TTL, now: time.Now}, guesses: guessesOf(cfg)}, nil
}

// Guesser throttles wrong keys per client (see api.Guesser).
type Guesser interface {
	Wait(r *http.Request) time.Duration
	Failed(r *http.Request)
}

func guessesOf(cfg Config) Guesser {
	if cfg.Guesses != nil {
		return cfg.Guesses
	}
	return ratelimit.NewGuard(ratelimit.GuessRule, ratelimit.GuessClients, nil)
}

// SigningKey derives the cookie signing key from a secret of its own:
// never from an API key, so that a sign-in cookie, which a browser holds,
// is no way to test guesses of a key offline. Nodes with the same secret
// accept each other's sign-ins; a new secret signs everyone out.
func SigningKey(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte("sessiontap inspector cookie v2"))
	s := sha256.Sum256(secret)
	h.Write(s[:])
	return h.Sum(nil)
}

// Owns reports whether path is the inspector's.
func (in *Inspector) Owns(path string) bool {
	return path == in.ui || strings.HasPrefix(path, in.ui+"/")
}

func (in *Inspector) checkKey(k string) bool { return k != "" && in.cfg.CheckKey(k) }

func (in *Inspector) log(msg string) { in.logger.Info(msg) }

// publicFiles are served without a sign-in: the sign-in page needs them.
var publicFiles = map[string]bool{"login.html": true, "login.js": true, "style.css": true}

// ServeHTTP answers a request under {prefix}/ui.
func (in *Inspector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.URL.Path == in.ui {
		// The page's relative links need the slash.
		http.Redirect(w, r, in.ui+"/", http.StatusSeeOther)
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, in.ui), "/")
	switch {
	case rest == "login" && r.Method == http.MethodPost:
		in.signIn(w, r)
		return
	case rest == "login":
		in.file(w, r, "login.html")
		return
	case publicFiles[rest]:
		in.file(w, r, rest)
		return
	}
	g, ok := in.signedIn(r)
	if !ok {
		in.refuse(w, r, rest)
		return
	}
	in.serveSignedIn(w, r, rest, g)
}

func (in *Inspector) serveSignedIn(w http.ResponseWriter, r *http.Request, rest string, g grant) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	page := rest == "" || rest == "index.html" || rest == "app.js"
	// Data only to our own pages: a page of another origin of the same
	// site (the shop's) gets the cookie sent along, and no answer.
	if (write && !in.sameOrigin(r, g)) || (!page && !in.fromHere(r)) {
		respond.Error(w, http.StatusForbidden, "refused: a missing or wrong CSRF token, or a request from another site")
		return
	}
	switch {
	case rest == "" || rest == "index.html":
		in.file(w, r, "index.html")
	case rest == "app.js":
		in.file(w, r, rest)
	case rest == "me":
		respond.JSON(w, http.StatusOK, MeAnswer{CSRF: in.signer.csrf(g), Expires: g.expires.UTC(), API: in.prefix})
	case rest == "events":
		in.events(w, r, g)
	case rest == "summary":
		in.summary(w, r)
	case rest == "search" && r.Method == http.MethodPost:
		in.search(w, r)
	case rest == "logout" && r.Method == http.MethodPost:
		in.signOut(w, r)
	case strings.HasPrefix(rest, "sessions/") && strings.HasSuffix(rest, "/retry") && r.Method == http.MethodPost:
		in.retry(w, r, strings.TrimSuffix(strings.TrimPrefix(rest, "sessions/"), "/retry"))
	case strings.HasPrefix(rest, "sinks/") && strings.HasSuffix(rest, "/replay"):
		in.replay(w, r, strings.TrimSuffix(strings.TrimPrefix(rest, "sinks/"), "/replay"))
	default:
		respond.Error(w, http.StatusNotFound, "no such inspector route")
	}
}

// refuse answers a request without a valid sign-in: pages go to the
// sign-in page, everything else is 401.
func (in *Inspector) refuse(w http.ResponseWriter, r *http.Request, rest string) {
	if r.Method == http.MethodGet && (rest == "" || rest == "index.html") {
		http.Redirect(w, r, in.ui+"/login", http.StatusSeeOther)
		return
	}
	respond.Error(w, http.StatusUnauthorized, "sign in first")
}

func (in *Inspector) file(w http.ResponseWriter, r *http.Request, name string) {
	http.ServeFileFS(w, r, in.static, name)
}

// securityHeaders: no inline script or style anywhere, nothing from
// elsewhere, no framing, no caching of operator data.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on our own POSTs, which fromHere refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

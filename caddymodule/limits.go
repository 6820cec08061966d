package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Limits bounds what one client, an IPv4 address or an IPv6 /64 as Caddy
// sees it (trusted_proxies honoured), can make sessiontap store. The
// defaults are far above what a person, or an office behind one address,
// does; the README says how they were chosen.
type Limits struct {
	// NewSessions bounds the new sessions (our cookie issued) per client.
	// Past it a page is served untracked, a collect answered 429.
	// Default 20 per minute, burst 40.
	NewSessions *Rate `json:"new_sessions,omitempty"`
	// Collect bounds the collect requests per client; past it they are
	// answered 429 with Retry-After. Default 60 per minute, burst 60.
	Collect *Rate `json:"collect,omitempty"`
	// Clients is how many client networks' buckets are kept (about 320
	// bytes each); when full, the network idle longest is forgotten.
	// Default 20000.
	Clients int `json:"clients,omitempty"`
	// CollectBody caps a collect request's body, in bytes. Default 24 KiB.
	CollectBody int64 `json:"collect_body,omitempty"`
	// SessionSize bounds a session's encoding, in bytes: a write past it
	// is refused (collect: 413). Default 64 KiB; at most 500 KiB.
	SessionSize int64 `json:"session_size,omitempty"`
}

// Rate is a token bucket: Events per Per, up to Burst at once.
type Rate struct {
	// Off turns the limit off; the other fields are then ignored.
	Off bool `json:"off,omitempty"`
	// Events is how many are allowed per Per on average.
	Events int `json:"events,omitempty"`
	// Per is the period Events are counted over.
	Per caddy.Duration `json:"per,omitempty"`
	// Burst is how many may come at once; Events when 0.
	Burst int `json:"burst,omitempty"`
}

// The defaults of Limits.
var (
	defaultNewSessions = Rate{Events: 20, Per: caddy.Duration(time.Minute), Burst: 40}
	defaultCollect     = Rate{Events: 60, Per: caddy.Duration(time.Minute), Burst: 60}
)

const (
	defaultLimitClients = 20000
	defaultSessionSize  = 64 << 10
	// maxLimitClients keeps a typo from reserving gigabytes.
	maxLimitClients = 10_000_000
)

// The rules of the limits' table, by index.
const (
	ruleNewSession = iota
	ruleCollect
)

// limited counts the requests a limit refused.
var limited = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "limited_total",
	Help: "Requests a per-client limit refused, by limit: new_session (a page served untracked, or a collect answered 429) and collect (429).",
}, []string{"limit"})

// limits returns h.Limits with its defaults filled in; never nil.
func (h *Handler) limits() Limits {
	l := Limits{}
	if h.Limits != nil {
		l = *h.Limits
	}
	if l.NewSessions == nil {
		l.NewSessions = &defaultNewSessions
	}
	if l.Collect == nil {
		l.Collect = &defaultCollect
	}
	if l.Clients == 0 {
		l.Clients = defaultLimitClients
	}
	if l.CollectBody == 0 {
		l.CollectBody = handler.DefaultCollectBody
	}
	if l.SessionSize == 0 {
		l.SessionSize = defaultSessionSize
	}
	return l
}

func (r *Rate) rule() ratelimit.Rule {
	if r.Off {
		return ratelimit.Rule{}
	}
	return ratelimit.Rule{Events: r.Events, Per: time.Duration(r.Per), Burst: r.Burst}
}

func (r *Rate) validate(name string) error {
	if r.Off {
		return nil
	}
	if r.Events <= 0 || r.Per <= 0 || r.Burst < 0 {
		return fmt.Errorf("limits: %s needs a positive number of events per a positive duration, and a burst not below 0", name)
	}
	return nil
}

// validateLimits checks the limits as configured.
func (h *Handler) validateLimits() error {
	l := h.limits()
	if err := l.NewSessions.validate("new_sessions"); err != nil {
		return err
	}
	if err := l.Collect.validate("collect"); err != nil {
		return err
	}
	if l.Clients < 0 || l.Clients > maxLimitClients {
		return fmt.Errorf("limits: clients must be between 1 and %d, not %d", maxLimitClients, l.Clients)
	}
	if l.CollectBody < 0 {
		return fmt.Errorf("limits: collect_body must be positive")
	}
	if l.SessionSize < 0 || l.SessionSize > model.MaxEncodedSize {
		return fmt.Errorf("limits: session_size must be positive and at most %d bytes", model.MaxEncodedSize)
	}
	return nil
}

// clientLimits is the handler's Limits over Caddy's client address.
type clientLimits struct {
	table *ratelimit.Table
	now   func() time.Time
}

func newClientLimits(l Limits) *clientLimits {
	rules := []ratelimit.Rule{ruleNewSession: l.NewSessions.rule(), ruleCollect: l.Collect.rule()}
	return &clientLimits{table: ratelimit.New(rules, l.Clients), now: time.Now}
}

// NewSession implements handler.Limits.
func (c *clientLimits) NewSession(r *http.Request) bool {
	ok, _ := c.table.Allow(ruleNewSession, clientIP(r), c.now())
	if !ok {
		limited.WithLabelValues("new_session").Inc()
	}
	return ok
}

// NewSessionWait implements handler.Limits.
func (c *clientLimits) NewSessionWait(r *http.Request) time.Duration {
	return c.table.Wait(ruleNewSession, clientIP(r), c.now())
}

// Collect implements handler.Limits.
func (c *clientLimits) Collect(r *http.Request) (bool, time.Duration) {
	ok, wait := c.table.Allow(ruleCollect, clientIP(r), c.now())
	if !ok {
		limited.WithLabelValues("collect").Inc()
	}
	return ok, wait
}

var _ handler.Limits = (*clientLimits)(nil)

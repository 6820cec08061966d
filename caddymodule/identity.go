package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/handler"
)

// Cookie is sessiontap's own session cookie.
type Cookie struct {
	// Name of the cookie. Default sessiontap_id.
	Name string `json:"name,omitempty"`
	// MaxAge is how long the cookie lives; it is renewed at most once a
	// day while the visitor comes back. Default 30 days.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// Secret signs the cookie, at least 16 bytes, the same on every node
	// serving the same sessions. Placeholders such as {env.KEY} are
	// replaced. Without it the store generates one and keeps it (Redis:
	// for the whole fleet; bigcache: for this process).
	Secret string `json:"secret,omitempty"`
	// SecretOrigin records where Secret was configured, e.g.
	// "Caddyfile:12". Set by the Caddyfile adapter and used only in error
	// messages.
	SecretOrigin string `json:"secret_origin,omitempty"`
}

// SessionSource is one place an external session id is read from.
type SessionSource struct {
	// From is "cookie" or "header".
	From string `json:"from"`
	// Name is the cookie or header name, e.g. "2c.cId" or "X-Session-Id".
	Name string `json:"name"`
}

// CustomerToken lets the shop vouch for the customer its pages post to
// the collect endpoint (see handler.CustomerToken).
type CustomerToken struct {
	// HMACKey is the key the shop's backend signs customer tokens with, at
	// least 16 bytes. Placeholders such as {env.SESSIONTAP_CUSTOMER_KEY}
	// are replaced; a key that ends up empty is a configuration error.
	HMACKey string `json:"hmac_key"`
	// HMACKeyOrigin records where HMACKey was configured, e.g.
	// "Caddyfile:14". Set by the Caddyfile adapter and used only in error
	// messages.
	HMACKeyOrigin string `json:"hmac_key_origin,omitempty"`
}

// secretTimeout bounds reading the cookie secret from the store at
// provisioning.
const secretTimeout = 5 * time.Second

// cookieKey is the key our cookie is signed with: the configured secret,
// or else the one the store keeps for every node that shares it.
func (h *Handler) cookieKey() ([]byte, error) {
	if raw := h.Cookie.Secret; raw != "" {
		key := caddy.NewReplacer().ReplaceKnown(raw, "")
		if key == "" {
			return nil, emptySecret("cookie: secret", raw, h.Cookie.SecretOrigin)
		}
		if len(key) < handler.MinCookieKey {
			return nil, atOrigin(fmt.Errorf("cookie: secret must be at least %d bytes, got %d; generate one with: openssl rand -base64 32", handler.MinCookieKey, len(key)), h.Cookie.SecretOrigin)
		}
		return []byte(key), nil
	}
	key, err := h.storeSecret("cookie")
	if err != nil {
		return nil, fmt.Errorf("cookie: %w (or configure `cookie <name> secret <key>`)", err)
	}
	return key, nil
}

// storeSecret is the secret the store keeps under name for every node
// that shares it.
func (h *Handler) storeSecret(name string) ([]byte, error) {
	return storeSecret(h.sharedStore(), name)
}

// storeSecret is the secret store keeps under name.
func storeSecret(store cache.Store, name string) ([]byte, error) {
	keeper, ok := store.(cache.Secrets)
	if !ok {
		return nil, errors.New("this session store keeps no secrets")
	}
	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	defer cancel()
	key, err := keeper.Secret(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading the key %q the store keeps: %w", name, err)
	}
	return key, nil
}

// customerTokenKey is the key collect verifies customer tokens with, nil
// when none is configured.
func (h *Handler) customerTokenKey() ([]byte, error) {
	if h.CustomerToken == nil {
		return nil, nil
	}
	c := h.CustomerToken
	key := caddy.NewReplacer().ReplaceKnown(c.HMACKey, "")
	if key == "" {
		return nil, emptySecret("collect: customer_token hmac", c.HMACKey, c.HMACKeyOrigin)
	}
	if len(key) < 16 {
		return nil, atOrigin(fmt.Errorf("collect: customer_token hmac key must be at least 16 bytes, got %d", len(key)), c.HMACKeyOrigin)
	}
	return []byte(key), nil
}

// parseCollect reads `collect <path> [{ customer_token hmac <key> }]`.
func (m *Handler) parseCollect(d *caddyfile.Dispenser) error {
	if !d.Args(&m.Collect) || d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "customer_token" {
			return unrecognized(d, "collect: unrecognized option", []string{"customer_token"})
		}
		tok := d.Token()
		var kind string
		m.CustomerToken = &CustomerToken{}
		if !d.Args(&kind, &m.CustomerToken.HMACKey) || d.NextArg() {
			return d.ArgErr()
		}
		if kind != "hmac" {
			return d.Errf("collect: customer_token: expected hmac, got %q", kind)
		}
		m.CustomerToken.HMACKeyOrigin = origin(tok)
	}
	return nil
}

// parseCookie reads `cookie <name> [max_age <duration>] [secret <key>]`.
func (m *Handler) parseCookie(d *caddyfile.Dispenser) error {
	m.Cookie = &Cookie{}
	if !d.Args(&m.Cookie.Name) {
		return d.ArgErr()
	}
	for d.NextArg() {
		opt, tok := d.Val(), d.Token()
		var raw string
		if opt != "max_age" && opt != "secret" {
			return unrecognized(d, "cookie: expected max_age or secret, got", []string{"max_age", "secret"})
		}
		if !d.Args(&raw) {
			return d.ArgErr()
		}
		if opt == "secret" {
			m.Cookie.Secret, m.Cookie.SecretOrigin = raw, origin(tok)
			continue
		}
		dur, err := caddy.ParseDuration(raw)
		if err != nil || dur <= 0 {
			return d.Errf("cookie: max_age %q is not a positive duration", raw)
		}
		m.Cookie.MaxAge = caddy.Duration(dur)
	}
	return nil
}

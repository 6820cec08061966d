package caddymodule

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/sessiontap/caddy-sessiontap/upstream"
)

// Forward is one upstream system that receives the session's updates.
type Forward struct {
	// To names the sink: talonone, emporix, nosto or webhook.
	To string `json:"to"`
	// URL is the upstream's base URL (talonone: https://<base>.talon.one;
	// emporix: https://api.emporix.io; nosto: its GraphQL endpoint;
	// webhook: the URL that is POSTed to).
	URL string `json:"url"`
	// On is "change" (the default: cart, customer or order changes) or
	// "action" (every stored change, page views included).
	On string `json:"on,omitempty"`

	// APIKey is Talon.One's Integration API key (talonone).
	APIKey string `json:"api_key,omitempty"`
	// Dry makes Talon.One evaluate rules without saving (talonone).
	Dry bool `json:"dry,omitempty"`
	// ResponseContent asks Talon.One for more in its answer, e.g.
	// customerSession, customerProfile (talonone).
	ResponseContent []string `json:"response_content,omitempty"`

	// Tenant is the Emporix tenant (emporix).
	Tenant string `json:"tenant,omitempty"`
	// ClientID is the Emporix OAuth2 client id (emporix).
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the Emporix OAuth2 client secret (emporix).
	ClientSecret string `json:"client_secret,omitempty"`
	// SiteCode is the Emporix site code (emporix).
	SiteCode string `json:"site_code,omitempty"`

	// Token is the Nosto API token, sent with HTTP basic auth (nosto).
	Token string `json:"token,omitempty"`

	// Secret signs webhook bodies with HMAC-SHA256 (webhook).
	Secret string `json:"secret,omitempty"`
}

// Delivery tunes the delivery engine shared by the forward sinks.
type Delivery struct {
	// QueueSize is how many sessions may wait for delivery per sink; past
	// it, updates of further sessions are dropped and counted. Default 10000.
	QueueSize int `json:"queue_size,omitempty"`
	// Concurrency is how many deliveries run at once per sink. Default 8.
	Concurrency int `json:"concurrency,omitempty"`
	// MaxAttempts bounds the attempts per update. Default 8.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout bounds one attempt. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Grace is how long pending deliveries are drained when Caddy stops
	// (or a config with other sinks replaces this one). Default 10s.
	Grace caddy.Duration `json:"grace,omitempty"`
}

// sinkNames lists the sinks Forward.To accepts.
var sinkNames = []string{"talonone", "emporix", "nosto", "webhook"}

// validate checks a forward's own fields, before placeholders are replaced.
func (f Forward) validate() error {
	known := false
	for _, n := range sinkNames {
		known = known || f.To == n
	}
	if !known {
		return fmt.Errorf("forward %q: unknown sink; use one of %s", f.To, strings.Join(sinkNames, ", "))
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("forward %s: url %q must be an http(s) URL", f.To, f.URL)
	}
	if f.On != "" && f.On != "change" && f.On != "action" {
		return fmt.Errorf("forward %s: on must be change or action, not %q", f.To, f.On)
	}
	required := map[string][]string{
		"talonone": {"api_key", f.APIKey},
		"emporix":  {"tenant", f.Tenant, "client_id", f.ClientID, "client_secret", f.ClientSecret},
		"nosto":    {"token", f.Token},
		"webhook":  {"secret", f.Secret},
	}[f.To]
	for i := 0; i+1 < len(required); i += 2 {
		if required[i+1] == "" {
			return fmt.Errorf("forward %s: %s is required", f.To, required[i])
		}
	}
	return nil
}

// sink builds the forward's sink with placeholders ({env.X}) replaced.
func (f Forward) sink(repl *caddy.Replacer, hasher *upstream.Hasher) (upstream.Sink, error) {
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	switch f.To {
	case "talonone":
		return upstream.NewTalonOne(upstream.TalonOneConfig{URL: f.URL, APIKey: r(f.APIKey), Dry: f.Dry,
			ResponseContent: f.ResponseContent, Hasher: hasher})
	case "emporix":
		return upstream.NewEmporix(upstream.EmporixConfig{URL: f.URL, Tenant: r(f.Tenant), ClientID: r(f.ClientID),
			ClientSecret: r(f.ClientSecret), SiteCode: r(f.SiteCode), Hasher: hasher})
	case "nosto":
		return upstream.NewNosto(upstream.NostoConfig{URL: f.URL, Token: r(f.Token), Hasher: hasher})
	default:
		return upstream.NewWebhook(upstream.WebhookConfig{URL: f.URL, Secret: r(f.Secret)})
	}
}

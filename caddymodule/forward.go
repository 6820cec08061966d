package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
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
	// "action" (also every write that records a page type or action).
	On string `json:"on,omitempty"`
	// Name labels the sink in stats, metrics and logs: letters, digits,
	// '-' and '_'. Default: the sink's kind (To), with "-2", "-3", … for
	// the second and later sinks of one kind.
	Name string `json:"name,omitempty"`

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

	// Requires are the consent purposes (see Consent) a visitor must have
	// granted for this sink to get anything of them; none: every visitor.
	Requires []string `json:"requires,omitempty"`

	// Token is the Nosto API token, sent with HTTP basic auth (nosto).
	Token string `json:"token,omitempty"`

	// Secret signs webhook bodies with HMAC-SHA256 (webhook).
	Secret string `json:"secret,omitempty"`

	// Origins records where the forward and its options were configured,
	// keyed by option name ("forward" for the forward line itself), e.g.
	// {"forward": "Caddyfile:7", "api_key": "Caddyfile:8"}. Set by the
	// Caddyfile adapter and used only in error messages.
	Origins map[string]string `json:"origins,omitempty"`
}

// Delivery tunes the delivery engine shared by the forward sinks.
type Delivery struct {
	// QueueSize is how many sessions may wait for delivery per sink; past
	// it, updates of further sessions are dropped and counted. Default 10000.
	QueueSize int `json:"queue_size,omitempty"`
	// QueueBytes bounds, with the Redis store, the bytes of the sessions
	// waiting per sink, fleet-wide (each waiting update keeps the
	// session): past it, updates of further sessions are dropped and
	// counted, as past queue_size, so that the queue (which has no TTL)
	// cannot fill Redis's memory. Default 64 MiB.
	QueueBytes int64 `json:"queue_bytes,omitempty"`
	// Concurrency is how many deliveries run at once per sink. Default 8.
	Concurrency int `json:"concurrency,omitempty"`
	// MaxAttempts bounds the attempts per update. Default 8.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout bounds one attempt. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Grace is how long pending deliveries are drained when Caddy stops
	// (or a config with other sinks replaces this one). Default 10s.
	Grace caddy.Duration `json:"grace,omitempty"`
	// MaxBackoff caps the wait between attempts, an upstream's
	// Retry-After included (a longer one is cut to it). Default 30s.
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`
	// Lease is, with the Redis store, how long a node holds a delivery
	// before another node may take it over as if the holder had died; it
	// must be longer than Timeout. Default: Timeout + 5s.
	Lease caddy.Duration `json:"lease,omitempty"`
}

// sinkNames lists the sinks Forward.To accepts.
var sinkNames = []string{"talonone", "emporix", "nosto", "webhook"}

// validate checks a forward's own fields, before placeholders are
// replaced. Its errors carry no position: the Caddyfile parser adds the
// forward line's, and check the recorded origin.
func (f Forward) validate() error {
	if !slices.Contains(sinkNames, f.To) {
		if hint := didYouMean(f.To, sinkNames); hint != "" {
			return fmt.Errorf("forward %q: unknown sink%s", f.To, hint)
		}
		return fmt.Errorf("forward %q: unknown sink; use one of %s", f.To, strings.Join(sinkNames, ", "))
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("forward %s: url %q must be an http(s) URL", f.To, f.URL)
	}
	if err := validOn(f.To, f.On); err != nil {
		return err
	}
	for _, opt := range f.required() {
		if opt.value == "" {
			return fmt.Errorf("forward %s: %s is required", f.To, opt.name)
		}
	}
	return nil
}

// validOn checks the on option of the sink to.
func validOn(to, on string) error {
	if on != "" && on != "change" && on != "action" {
		return fmt.Errorf("forward %s: on must be change or action, not %q", to, on)
	}
	return nil
}

// forwardOption is one option of a forward: its Caddyfile name and value.
type forwardOption struct{ name, value string }

// required lists the options f's sink cannot work without.
func (f Forward) required() []forwardOption {
	switch f.To {
	case "talonone":
		return []forwardOption{{"api_key", f.APIKey}}
	case "emporix":
		return []forwardOption{{"tenant", f.Tenant}, {"client_id", f.ClientID}, {"client_secret", f.ClientSecret}}
	case "nosto":
		return []forwardOption{{"token", f.Token}}
	case "webhook":
		return []forwardOption{{"secret", f.Secret}}
	}
	return nil
}

// check is validate at Provision: errors point at the recorded origin, and
// the required options must still have a value once placeholders such as
// {env.TALON_KEY} are replaced, or the sink would fail every delivery.
func (f Forward) check(repl *caddy.Replacer) error {
	if err := f.validate(); err != nil {
		return atOrigin(err, f.Origins["forward"])
	}
	for _, opt := range f.required() {
		if repl.ReplaceKnown(opt.value, "") == "" {
			return emptySecret("forward "+f.To+": "+opt.name, opt.value, f.origin(opt.name))
		}
	}
	return nil
}

// origin is where option opt was configured, else where the forward was.
func (f Forward) origin(opt string) string {
	if o := f.Origins[opt]; o != "" {
		return o
	}
	return f.Origins["forward"]
}

// forwardsForKey is the forwards as the delivery engine's key sees them:
// without origins, so that a Caddyfile edit that only moves lines keeps
// the engine and its pending deliveries.
func forwardsForKey(fs []Forward) []Forward {
	out := make([]Forward, len(fs))
	for i, f := range fs {
		f.Origins = nil
		out[i] = f
	}
	return out
}

// sink builds the forward's sink with placeholders ({env.X}) replaced and
// a client of its own that keeps conns connections; its errors point at
// the forward's origin. Every sink sends our session ids as ids' pseudonyms
// and redacts secrets (the configuration's, see secretsToRedact) from the
// upstream's answers, besides its own credentials.
func (f Forward) sink(repl *caddy.Replacer, hasher *delivery.Hasher, ids *delivery.Pseudonyms, conns int, secrets *delivery.Secrets, env sinkEnv) (delivery.Sink, error) {
	s, err := f.newSink(repl, hasher, ids, delivery.NewClient(conns), secrets, env)
	return s, atOrigin(err, f.Origins["forward"])
}

// sinkEnv is what a sink needs of the rest of the configuration.
type sinkEnv struct {
	label string // the sink's name in metrics and logs
	// nostoCID: the sessions' external ids are Nosto's 2c.cId.
	nostoCID bool
}

func (f Forward) newSink(repl *caddy.Replacer, hasher *delivery.Hasher, ids *delivery.Pseudonyms, client *http.Client, secrets *delivery.Secrets, env sinkEnv) (delivery.Sink, error) {
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	switch f.To {
	case "talonone":
		return delivery.NewTalonOne(delivery.TalonOneConfig{URL: f.URL, APIKey: r(f.APIKey), Dry: f.Dry,
			ResponseContent: f.ResponseContent, Hasher: hasher, Pseudonyms: ids, Client: client, Secrets: secrets})
	case "emporix":
		return delivery.NewEmporix(delivery.EmporixConfig{URL: f.URL, Tenant: r(f.Tenant), ClientID: r(f.ClientID),
			ClientSecret: r(f.ClientSecret), SiteCode: r(f.SiteCode), Hasher: hasher, Pseudonyms: ids, Client: client, Secrets: secrets})
	case "nosto":
		return delivery.NewNosto(delivery.NostoConfig{URL: f.URL, Token: r(f.Token), Hasher: hasher, Pseudonyms: ids, Client: client, Secrets: secrets,
			SessionIsCID: env.nostoCID, OnUnattributed: nostoUnattributed.WithLabelValues(env.label).Inc})
	default:
		return delivery.NewWebhook(delivery.WebhookConfig{URL: f.URL, Secret: r(f.Secret), Pseudonyms: ids, Client: client, Secrets: secrets})
	}
}

// sinkLabels names each forward for stats, metrics and logs: its Name, or
// its kind made unique. Two forwards given the same name are an error.
func sinkLabels(fs []Forward) ([]string, error) {
	labels := make([]string, len(fs))
	taken := map[string]bool{}
	for i, f := range fs {
		if f.Name == "" {
			continue
		}
		if !validLabel(f.Name) {
			return nil, atOrigin(fmt.Errorf("forward %s: name %q: use letters, digits, - and _", f.To, f.Name), f.origin("name"))
		}
		if taken[f.Name] {
			return nil, atOrigin(fmt.Errorf("forward %s: name %q is taken by another forward", f.To, f.Name), f.origin("name"))
		}
		labels[i], taken[f.Name] = f.Name, true
	}
	for i, f := range fs {
		if labels[i] != "" {
			continue
		}
		label := f.To
		for n := 2; taken[label]; n++ {
			label = f.To + "-" + strconv.Itoa(n)
		}
		labels[i], taken[label] = label, true
	}
	return labels, nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

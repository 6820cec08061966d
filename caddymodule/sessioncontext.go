package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/internal/api"
)

// SaaSToken configures how the session-context API
// ({api prefix}/session-context/{tenant}/context/{sessionId}) checks the
// saas-token header, the customer access token that a context belonging
// to a customer requires. Exactly one of HMACKey and Static is set.
//
// Without a saas_token (or with no usable one), contexts that belong to a
// customer answer 403 to every request: the API fails closed. Contexts of
// anonymous sessions need no token. The operator API's bearer key is
// required in all cases.
type SaaSToken struct {
	// HMACKey is the HS256 secret that Emporix signs its saas-tokens
	// with: the header must be a JWT with alg HS256 (no other algorithm,
	// "none" included, is accepted), its "exp" is required and checked,
	// and its "sub" is the customer number. Tokens of the earlier
	// `<customerId>.<expiry>.<mac>` form are refused. Placeholders such
	// as {env.SESSIONTAP_SAAS_KEY} are replaced; a key that ends up empty
	// is a configuration error.
	HMACKey string `json:"hmac_key,omitempty"`

	// Static maps fixed tokens to customer ids, for tests and demos:
	// these tokens never expire. Placeholders in tokens are replaced;
	// entries that end up empty are ignored.
	Static map[string]string `json:"static,omitempty"`

	// HMACKeyOrigin records where HMACKey was configured, e.g.
	// "Caddyfile:14". Set by the Caddyfile adapter and used only in error
	// messages.
	HMACKeyOrigin string `json:"hmac_key_origin,omitempty"`
}

// verifier builds the configured verifier; nil (no verifier, fail closed)
// when c is nil.
func (c *SaaSToken) verifier(repl *caddy.Replacer) (api.TokenVerifier, error) {
	if c == nil {
		return nil, nil
	}
	switch {
	case c.HMACKey != "" && len(c.Static) > 0:
		return nil, errors.New("sessiontap_api: saas_token: use either hmac or static, not both")
	case c.HMACKey != "":
		key := repl.ReplaceKnown(c.HMACKey, "")
		if key == "" {
			return nil, emptySecret("sessiontap_api: saas_token hmac", c.HMACKey, c.HMACKeyOrigin)
		}
		v, err := api.NewHMACVerifier([]byte(key))
		return v, atOrigin(err, c.HMACKeyOrigin)
	case len(c.Static) > 0:
		tokens := make(map[string]string, len(c.Static))
		for tok, customer := range c.Static {
			tokens[repl.ReplaceKnown(tok, "")] = customer
		}
		return api.NewStaticVerifier(tokens), nil
	}
	return nil, errors.New("sessiontap_api: saas_token: neither hmac_key nor static is set")
}

// saasTokenKinds are what saas_token takes, for "did you mean".
var saasTokenKinds = []string{"hmac", "static"}

// parseSaaSToken parses, inside an api block,
//
//	saas_token hmac <key>
//	saas_token static <token> <customerId>
//
// static may be repeated; hmac and static exclude each other.
func (a *API) parseSaaSToken(d *caddyfile.Dispenser) error {
	if a.SaaSToken == nil {
		a.SaaSToken = &SaaSToken{}
	}
	c := a.SaaSToken
	tok := d.Token()
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch kind := d.Val(); kind {
	case "hmac":
		if c.HMACKey != "" {
			return d.Err("saas_token hmac: given twice")
		}
		if err := oneArg(d, &c.HMACKey); err != nil {
			return err
		}
		c.HMACKeyOrigin = origin(tok)
	case "static":
		var tok, customer string
		if !d.Args(&tok, &customer) || d.NextArg() {
			return d.ArgErr()
		}
		if c.Static == nil {
			c.Static = map[string]string{}
		}
		if _, dup := c.Static[tok]; dup {
			return d.Errf("saas_token static: token given twice")
		}
		c.Static[tok] = customer
	default:
		return unrecognized(d, "saas_token: expected hmac or static, got", saasTokenKinds)
	}
	if c.HMACKey != "" && len(c.Static) > 0 {
		return d.Err("saas_token: use either hmac or static, not both")
	}
	return nil
}

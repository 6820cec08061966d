package caddymodule

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/internal/consent"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Consent says where the shop's consent banner keeps the visitor's
// decision, and how to read it. Each forward then says what it requires.
type Consent struct {
	// Cookie is the cookie the banner writes: euconsent-v2 (IAB TCF),
	// CookieConsent (Cookiebot), OptanonConsent (OneTrust), or one the shop
	// writes itself.
	Cookie string `json:"cookie"`
	// Format is how the cookie reads: tcf, cookiebot, onetrust, json or
	// list (see the README's table of what each grants).
	Format string `json:"format"`
	// Default are the purposes a visitor without the cookie has granted.
	// Default: none, so that only forwards that require nothing get such a
	// visitor's data.
	Default []string `json:"default,omitempty"`
	// Purposes are the shop's names for what the format grants, each
	// granted when all its format's names are, e.g. {"personalisation":
	// ["tcf-5", "tcf-6"]}.
	Purposes map[string][]string `json:"purposes,omitempty"`
}

func (c *Consent) config() *consent.Config {
	return &consent.Config{Cookie: c.Cookie, Format: c.Format, Default: c.Default, Purposes: c.Purposes}
}

// consentReader is the handler's consent cookie and the function that
// reads it, none without a consent block.
func (h *Handler) consentReader() (string, func(value string, found bool) *model.Consent) {
	if h.Consent == nil {
		return "", nil
	}
	return h.Consent.Cookie, h.Consent.config().DecideValue
}

// validateConsent checks the consent block, and that no forward requires
// a purpose without one.
func (h *Handler) validateConsent() error {
	if h.Consent != nil {
		if err := h.Consent.config().Validate(); err != nil {
			return err
		}
	}
	for _, f := range h.Forward {
		if len(f.Requires) > 0 && h.Consent == nil {
			return atOrigin(fmt.Errorf("forward %s: requires %s, but no consent block says where the visitor's decision is: "+
				"add consent { cookie <name> tcf|cookiebot|onetrust|json|list }", f.To, strings.Join(f.Requires, " ")), f.origin("requires"))
		}
	}
	return nil
}

// parseConsent reads
//
//	consent {
//		cookie <name> tcf|cookiebot|onetrust|json|list
//		default <purpose>...
//		purpose <name> <granted>...
//	}
func (h *Handler) parseConsent(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &Consent{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "cookie":
			if !d.Args(&c.Cookie, &c.Format) || d.NextArg() {
				return d.Err("consent: cookie <name> <format>, e.g. cookie euconsent-v2 tcf")
			}
			if _, ok := consent.Formats[c.Format]; !ok {
				return d.Errf("consent: unknown format %q; use one of %s%s", c.Format,
					strings.Join(consent.FormatNames(), ", "), didYouMean(c.Format, consent.FormatNames()))
			}
		case "default":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("consent: default <purpose>..., the purposes a visitor without the cookie has granted")
			}
			c.Default = append(c.Default, args...)
		case "purpose":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Err("consent: purpose <name> <granted>..., e.g. purpose personalisation tcf-5 tcf-6")
			}
			if c.Purposes == nil {
				c.Purposes = map[string][]string{}
			}
			c.Purposes[args[0]] = args[1:]
		default:
			return unrecognized(d, "consent: unrecognized option", []string{"cookie", "default", "purpose"})
		}
	}
	if c.Cookie == "" {
		return d.Err("consent: cookie <name> <format> is required")
	}
	h.Consent = c
	return nil
}

// parseRequires reads a forward's `requires <purpose>...`.
func parseRequires(f *Forward, d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Err("requires: name the purposes, e.g. requires personalisation")
	}
	for _, a := range args {
		if !slices.Contains(f.Requires, a) {
			f.Requires = append(f.Requires, a)
		}
	}
	return nil
}

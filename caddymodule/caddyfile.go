package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("sessiontap", parseCaddyfile)
	// After encode, so that sessiontap wraps reverse_proxy, respond and
	// file_server and sees their responses before compression.
	httpcaddyfile.RegisterDirectiveOrder("sessiontap", httpcaddyfile.After, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	sessiontap {
//		cookie <name> [max_age <duration>]
//		session cookie|header <name>
//		respect_dnt on|off
//		opt_out_cookie <name>
//		consent {
//			cookie <name> tcf|cookiebot|onetrust|json|list
//			default <purpose>...
//			purpose <name> <granted>...
//		}
//		store <backend> {
//			...
//		}
//		collect <path>
//		history <n>
//		capture html [on|off]
//		capture json <preset>
//		capture json {
//			route <method> <path> request|response
//			items <path>
//			product_id|sku_id|name|quantity|unit_price|currency <path>
//			cart_currency|token|customer_reference|email <path>
//			price_divisor <n>
//		}
//		capture_limit <size>
//		capture_budget <size>
//		capture_cached on|off
//		forward talonone|emporix|nosto|webhook <url> {
//			...
//		}
//		hmac_key <secret>
//		hide_ip off|truncate|hash
//		delivery {
//			...
//		}
//		limits {
//			new_sessions|collect <n> per <duration> [burst <n>] | off
//			clients <n>
//			collect_body|session_size <size>
//		}
//	}
//
// session may be repeated. Every subdirective is optional.
func (m *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	// Where a missing hmac_key matters, to point at it once all is read.
	var hideIP, forward *caddyfile.Token
	var sink string
	for d.NextBlock(0) {
		tok := d.Token()
		parse, ok := handlerOptions[tok.Text]
		if !ok {
			return unrecognized(d, "unrecognized subdirective", handlerOptionNames)
		}
		m.Origins.note(tok)
		if err := parse(m, d); err != nil {
			return err
		}
		switch to := m.lastForward(); {
		case tok.Text == "hide_ip":
			hideIP = &tok
		case tok.Text == "forward" && forward == nil && slices.Contains(thirdPartySinks, to):
			forward, sink = &tok, to
		}
	}
	return m.checkHMACKeyAt(hideIP, forward, sink)
}

// lastForward is the sink of the last forward read, or "".
func (m *Handler) lastForward() string {
	if len(m.Forward) == 0 {
		return ""
	}
	return m.Forward[len(m.Forward)-1].To
}

// handlerOptions are sessiontap's subdirectives. UnmarshalCaddyfile
// dispatches on this map and suggests from its keys, so the two agree.
var handlerOptions = map[string]func(*Handler, *caddyfile.Dispenser) error{
	"cookie":         (*Handler).parseCookie,
	"session":        (*Handler).parseSession,
	"respect_dnt":    (*Handler).parseRespectDNT,
	"opt_out_cookie": stringOption(func(m *Handler) *string { return &m.OptOutCookie }),
	"store":          (*Handler).parseStore,
	"collect":        (*Handler).parseCollect,
	"api":            (*Handler).parseAPI,
	"forward":        (*Handler).parseForward,
	"hmac_key":       stringOption(func(m *Handler) *string { return &m.HMACKey }),
	"hide_ip":        stringOption(func(m *Handler) *string { return &m.HideIP }),
	"delivery":       (*Handler).parseDelivery,
	"capture":        (*Handler).parseCapture,
	"capture_limit":  (*Handler).parseCaptureLimit,
	"capture_budget": (*Handler).parseCaptureBudget,
	"capture_cached": (*Handler).parseCaptureCached,
	"history":        (*Handler).parseHistory,
	"limits":         (*Handler).parseLimits,
	"consent":        (*Handler).parseConsent,
}

var handlerOptionNames = optionNames(handlerOptions)

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.Args(dst) || d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func (m *Handler) parseSession(d *caddyfile.Dispenser) error {
	var s SessionSource
	if !d.Args(&s.From, &s.Name) || d.NextArg() {
		return d.ArgErr()
	}
	if s.From != "cookie" && s.From != "header" {
		return d.Errf("session: expected cookie or header, got %q", s.From)
	}
	m.Sessions = append(m.Sessions, s)
	return nil
}

func (m *Handler) parseRespectDNT(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	on, err := onOff(d, "respect_dnt")
	if err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	m.RespectDNT = &on
	return nil
}

func (m *Handler) parseStore(d *caddyfile.Dispenser) (err error) {
	m.StoreRaw, err = parseStoreModule(d)
	return err
}

// parseStoreModule reads `store <backend> { ... }` into the store's JSON.
func parseStoreModule(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	backend := d.Val()
	if _, err := caddy.GetModule("sessiontap.stores." + backend); err != nil {
		var names []string
		for _, m := range caddy.GetModules("sessiontap.stores") {
			names = append(names, m.ID.Name())
		}
		return nil, unrecognized(d, "store: no such backend", names)
	}
	unm, err := caddyfile.UnmarshalModule(d, "sessiontap.stores."+backend)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, "backend", backend, nil), nil
}

// parseAPI refuses the api block the visitor handler once had: the
// operator side is a directive of its own, for a site of its own.
func (m *Handler) parseAPI(d *caddyfile.Dispenser) error {
	return d.Err("api: the operator API and inspector moved to a directive of their own, " +
		"for a site of its own (not the shop's): sessiontap_api <prefix> { key ...; inspector }, e.g. in " +
		"`http://localhost:8082 { bind 127.0.0.1; sessiontap_api /_sessiontap/api { ... } }`")
}

// apiOptions are the options of sessiontap_api. parseOperator dispatches on
// this map and suggests from its keys, so the two agree.
var apiOptions = map[string]func(*API, *caddyfile.Dispenser) error{
	"key":         (*API).parseKey,
	"backend_key": (*API).parseBackendKey,
	"saas_token":  (*API).parseSaaSToken,
	"inspector":   (*API).parseInspector,
}

var apiOptionNames = optionNames(apiOptions)

// parseKey reads `key <secret>`, and where it was written: a key that is
// empty at Provision (an unset {env.X}) is reported with its line.
func (a *API) parseKey(d *caddyfile.Dispenser) error {
	tok := d.Token()
	var key string
	if err := oneArg(d, &key); err != nil {
		return err
	}
	a.Keys = append(a.Keys, key)
	a.KeyOrigins = append(a.KeyOrigins, origin(tok))
	return nil
}

// parseBackendKey reads `backend_key <secret>`.
func (a *API) parseBackendKey(d *caddyfile.Dispenser) error {
	var key string
	if err := oneArg(d, &key); err != nil {
		return err
	}
	a.BackendKeys = append(a.BackendKeys, key)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// parseHistory reads `history <n>`.
func (m *Handler) parseHistory(d *caddyfile.Dispenser) error {
	var arg string
	if err := oneArg(d, &arg); err != nil {
		return err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > maxHistory {
		return d.Errf("history: must be a number from 0 to %d, not %q", maxHistory, arg)
	}
	m.History = &n
	return nil
}

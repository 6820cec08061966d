package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterDirective("sessiontap_api", parseOperatorDirective)
	// Early, like sessiontap: its answers need nothing of later handlers.
	httpcaddyfile.RegisterDirectiveOrder("sessiontap_api", httpcaddyfile.After, "encode")
}

// parseOperatorDirective is what RegisterHandlerDirective would do, but
// for a path right after the directive's name, which is the API's prefix
// and not a path matcher: as a matcher it would match the prefix alone
// and hide every route under it. A named matcher (@internal) still works.
func parseOperatorDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	pathFirst := h.NextArg() && strings.HasPrefix(h.Val(), "/")
	h.Reset()
	var matchers caddy.ModuleMap
	if !pathFirst {
		h.Next() // where ExtractMatcherSet starts; it resets when done
		var err error
		if matchers, err = h.ExtractMatcherSet(); err != nil {
			return nil, err
		}
	}
	o := new(OperatorHandler)
	if err := o.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(matchers, o), nil
}

// UnmarshalCaddyfile sets up the operator handler from Caddyfile tokens.
// Syntax:
//
//	sessiontap_api [<matcher>] [<prefix>] {
//		store <backend> {
//			...
//		}
//		key <secret>
//		backend_key <secret>
//		saas_token hmac <key> | saas_token static <token> <customerId>
//		inspector {
//			ttl <duration>
//			feed_size <n>
//			secret <secret>
//		}
//	}
//
// key, backend_key and saas_token static may be repeated; at least one key
// is required. The store is the one the shop's sessiontap handlers name.
// A path after the directive is the prefix, not a path matcher; a named
// matcher (@internal, say) may come before it.
func (o *OperatorHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	o.Origins.note(d.Token())
	if d.NextArg() {
		if o.Prefix = d.Val(); !strings.HasPrefix(o.Prefix, "/") {
			return d.Errf("sessiontap_api: the prefix must be a path such as /_sessiontap/api, not %q", o.Prefix)
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		o.Origins.note(d.Token())
		if d.Val() == "store" {
			if err := o.parseStore(d); err != nil {
				return err
			}
			continue
		}
		parse, ok := apiOptions[d.Val()]
		if !ok {
			return unrecognized(d, "sessiontap_api: unrecognized option", operatorOptionNames)
		}
		if err := parse(&o.API, d); err != nil {
			return err
		}
	}
	if len(o.Keys) == 0 {
		return d.Err("sessiontap_api: at least one key is required: key <secret>, e.g. key {env.SESSIONTAP_API_KEY}")
	}
	return nil
}

// operatorOptionNames are what sessiontap_api takes, for suggestions.
var operatorOptionNames = append([]string{"store"}, apiOptionNames...)

func (o *OperatorHandler) parseStore(d *caddyfile.Dispenser) (err error) {
	o.StoreRaw, err = parseStoreModule(d)
	return err
}

// Interface guard
var _ caddyfile.Unmarshaler = (*OperatorHandler)(nil)

package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseForward reads one sink:
//
//	forward talonone|emporix|nosto|webhook <url> {
//		on change|action
//		api_key <key>                    # talonone
//		dry                              # talonone
//		response_content <item...>       # talonone
//		tenant <t>                       # emporix
//		client_id <id>                   # emporix
//		client_secret <secret>           # emporix
//		site_code <code>                 # emporix
//		token <api token>                # nosto
//		secret <signing key>             # webhook
//	}
func (m *Handler) parseForward(d *caddyfile.Dispenser) error {
	var f Forward
	if !d.Args(&f.To, &f.URL) || d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := f.parseOption(d); err != nil {
			return err
		}
	}
	if err := f.validate(); err != nil {
		return d.Errf("%v", err)
	}
	m.Forward = append(m.Forward, f)
	return nil
}

func (f *Forward) parseOption(d *caddyfile.Dispenser) error {
	switch opt := d.Val(); opt {
	case "dry":
		if d.NextArg() {
			return d.ArgErr()
		}
		f.Dry = true
		return nil
	case "response_content":
		f.ResponseContent = d.RemainingArgs()
		if len(f.ResponseContent) == 0 {
			return d.ArgErr()
		}
		return nil
	default:
		dst := map[string]*string{
			"on": &f.On, "api_key": &f.APIKey, "tenant": &f.Tenant, "client_id": &f.ClientID,
			"client_secret": &f.ClientSecret, "site_code": &f.SiteCode, "token": &f.Token, "secret": &f.Secret,
		}[opt]
		if dst == nil {
			return d.Errf("forward %s: unrecognized option %q", f.To, opt)
		}
		return oneArg(d, dst)
	}
}

// parseDelivery reads the delivery engine's tuning:
//
//	delivery {
//		queue_size <n>
//		concurrency <n>
//		max_attempts <n>
//		timeout <duration>
//		grace <duration>
//	}
func (m *Handler) parseDelivery(d *caddyfile.Dispenser) error {
	m.Delivery = &Delivery{}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var raw string
		if err := oneArg(d, &raw); err != nil {
			return err
		}
		if err := m.Delivery.set(d, opt, raw); err != nil {
			return err
		}
	}
	return nil
}

func (dl *Delivery) set(d *caddyfile.Dispenser, opt, raw string) error {
	if opt == "timeout" || opt == "grace" {
		dur, err := caddy.ParseDuration(raw)
		if err != nil || dur <= 0 {
			return d.Errf("delivery: %s %q is not a positive duration", opt, raw)
		}
		if opt == "timeout" {
			dl.Timeout = caddy.Duration(dur)
		} else {
			dl.Grace = caddy.Duration(dur)
		}
		return nil
	}
	dst := map[string]*int{"queue_size": &dl.QueueSize, "concurrency": &dl.Concurrency, "max_attempts": &dl.MaxAttempts}[opt]
	if dst == nil {
		return d.Errf("delivery: unrecognized option %q", opt)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return d.Errf("delivery: %s %q is not a positive number", opt, raw)
	}
	*dst = n
	return nil
}

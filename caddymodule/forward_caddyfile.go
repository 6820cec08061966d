package caddymodule

import (
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// parseForward reads one sink:
//
//	forward talonone|emporix|nosto|webhook <url> {
//		on change|action
//		name <label>                     # in stats, metrics and logs
//		requires <purpose>...            # consent purposes (see consent)
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
//
// It records where the forward and each option were written in Origins,
// for errors found at Provision (an {env.X} that is not set).
func (m *Handler) parseForward(d *caddyfile.Dispenser) error {
	// A missing option is only known at the block's }, but the user
	// looks for the forward line.
	tok := d.Token()
	var f Forward
	if !d.Args(&f.To) {
		return d.Err("forward: name the sink and its URL, e.g. forward webhook https://hooks.example.com/sessiontap")
	}
	if !d.Args(&f.URL) {
		return d.Errf("forward %s: its URL is missing, e.g. forward %s https://…", f.To, f.To)
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if !slices.Contains(sinkNames, f.To) {
		return errAt(tok, f.validate()) // before the block's options, which depend on the sink
	}
	f.Origins = map[string]string{"forward": origin(tok)}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		parse, ok := forwardOptions[opt]
		if !ok {
			return unrecognized(d, "forward "+f.To+": unrecognized option", forwardOptionNames)
		}
		if only := optionSinks[opt]; only != nil && !slices.Contains(only, f.To) {
			// Silently ignoring it would hide a sink configured wrong.
			return d.Errf("forward %s: %s is an option of %s only", f.To, opt, strings.Join(only, ", "))
		}
		f.Origins[opt] = origin(d.Token())
		if err := parse(&f, d); err != nil {
			return err
		}
	}
	if err := f.validate(); err != nil {
		return errAt(tok, err)
	}
	m.Forward = append(m.Forward, f)
	return nil
}

// forwardOptions are the options of a forward block. The block's parser
// dispatches on this map and suggests from its keys, so the two agree.
var forwardOptions = map[string]func(*Forward, *caddyfile.Dispenser) error{
	"on": func(f *Forward, d *caddyfile.Dispenser) error {
		if err := oneArg(d, &f.On); err != nil {
			return err
		}
		if err := validOn(f.To, f.On); err != nil {
			return d.WrapErr(err) // at the on line, not the forward's
		}
		return nil
	},
	"dry": func(f *Forward, d *caddyfile.Dispenser) error {
		if d.NextArg() {
			return d.ArgErr()
		}
		f.Dry = true
		return nil
	},
	"response_content": func(f *Forward, d *caddyfile.Dispenser) error {
		f.ResponseContent = d.RemainingArgs()
		if len(f.ResponseContent) == 0 {
			return d.ArgErr()
		}
		return nil
	},
	"requires":      parseRequires,
	"name":          stringOption(func(f *Forward) *string { return &f.Name }),
	"api_key":       stringOption(func(f *Forward) *string { return &f.APIKey }),
	"tenant":        stringOption(func(f *Forward) *string { return &f.Tenant }),
	"client_id":     stringOption(func(f *Forward) *string { return &f.ClientID }),
	"client_secret": stringOption(func(f *Forward) *string { return &f.ClientSecret }),
	"site_code":     stringOption(func(f *Forward) *string { return &f.SiteCode }),
	"token":         stringOption(func(f *Forward) *string { return &f.Token }),
	"secret":        stringOption(func(f *Forward) *string { return &f.Secret }),
}

var forwardOptionNames = optionNames(forwardOptions)

// optionSinks names the sinks each sink-specific option belongs to; the
// options missing here (on) apply to every sink.
var optionSinks = map[string][]string{
	"api_key":          {"talonone"},
	"dry":              {"talonone"},
	"response_content": {"talonone"},
	"tenant":           {"emporix"},
	"client_id":        {"emporix"},
	"client_secret":    {"emporix"},
	"site_code":        {"emporix"},
	"token":            {"nosto"},
	"secret":           {"webhook"},
}

// parseDelivery reads the delivery engine's tuning:
//
//	delivery {
//		queue_size <n>
//		concurrency <n>
//		max_attempts <n>
//		timeout <duration>
//		grace <duration>
//		max_backoff <duration>
//		lease <duration>        # Redis store only
//		queue_bytes <size>      # Redis store only, e.g. 64MiB
//	}
func (m *Handler) parseDelivery(d *caddyfile.Dispenser) error {
	m.Delivery = &Delivery{}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		field, ok := deliveryOptions[opt]
		if !ok {
			return unrecognized(d, "delivery: unrecognized option", deliveryOptionNames)
		}
		var raw string
		if err := oneArg(d, &raw); err != nil {
			return err
		}
		if err := setPositive(d, opt, raw, field(m.Delivery)); err != nil {
			return err
		}
	}
	return nil
}

// deliveryOptions are the options of the delivery block, each with the
// field it sets (an *int, an *int64 size or a *caddy.Duration). The block's parser
// dispatches on this map and suggests from its keys, so the two agree.
var deliveryOptions = map[string]func(*Delivery) any{
	"queue_size":   func(dl *Delivery) any { return &dl.QueueSize },
	"queue_bytes":  func(dl *Delivery) any { return &dl.QueueBytes },
	"concurrency":  func(dl *Delivery) any { return &dl.Concurrency },
	"max_attempts": func(dl *Delivery) any { return &dl.MaxAttempts },
	"timeout":      func(dl *Delivery) any { return &dl.Timeout },
	"grace":        func(dl *Delivery) any { return &dl.Grace },
	"max_backoff":  func(dl *Delivery) any { return &dl.MaxBackoff },
	"lease":        func(dl *Delivery) any { return &dl.Lease },
}

var deliveryOptionNames = optionNames(deliveryOptions)

// setPositive parses raw, the value of delivery option opt, into dst.
func setPositive(d *caddyfile.Dispenser, opt, raw string, dst any) error {
	switch dst := dst.(type) {
	case *caddy.Duration:
		dur, err := caddy.ParseDuration(raw)
		if err != nil || dur <= 0 {
			return d.Errf("delivery: %s %q is not a positive duration", opt, raw)
		}
		*dst = caddy.Duration(dur)
	case *int:
		n, err := strconv.Atoi(raw)
		if err != nil || n <= 0 {
			return d.Errf("delivery: %s %q is not a positive number", opt, raw)
		}
		*dst = n
	case *int64:
		n, err := humanize.ParseBytes(raw)
		if err != nil || n == 0 || n > 1<<40 {
			return d.Errf("delivery: %s %q is not a size such as 64MiB", opt, raw)
		}
		*dst = int64(n)
	}
	return nil
}

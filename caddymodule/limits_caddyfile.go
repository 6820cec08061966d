package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// parseLimits reads the limits block:
//
//	limits {
//		new_sessions <n> per <duration> [burst <n>] | off
//		collect <n> per <duration> [burst <n>] | off
//		clients <n>
//		collect_body <size>
//		session_size <size>
//	}
func (m *Handler) parseLimits(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if m.Limits == nil {
		m.Limits = &Limits{}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		parse, ok := limitsOptions[d.Val()]
		if !ok {
			return unrecognized(d, "limits: unrecognized option", limitsOptionNames)
		}
		if err := parse(m.Limits, d); err != nil {
			return err
		}
	}
	return nil
}

// limitsOptions are the options of the limits block. parseLimits
// dispatches on this map and suggests from its keys, so the two agree.
var limitsOptions = map[string]func(*Limits, *caddyfile.Dispenser) error{
	"new_sessions": func(l *Limits, d *caddyfile.Dispenser) error { return parseRate(d, &l.NewSessions) },
	"collect":      func(l *Limits, d *caddyfile.Dispenser) error { return parseRate(d, &l.Collect) },
	"clients":      (*Limits).parseClients,
	"collect_body": func(l *Limits, d *caddyfile.Dispenser) error { return parseSize(d, &l.CollectBody, 1<<30) },
	"session_size": func(l *Limits, d *caddyfile.Dispenser) error {
		return parseSize(d, &l.SessionSize, model.MaxEncodedSize)
	},
}

var limitsOptionNames = optionNames(limitsOptions)

// parseRate reads `<name> <n> per <duration> [burst <n>]` or `<name> off`.
func parseRate(d *caddyfile.Dispenser, dst **Rate) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		*dst = &Rate{Off: true}
		return nil
	}
	if (len(args) != 3 && len(args) != 5) || args[1] != "per" || (len(args) == 5 && args[3] != "burst") {
		return d.Errf("limits: %s takes <events> per <duration> [burst <n>], or off", name)
	}
	r := &Rate{}
	var err error
	if r.Events, err = strconv.Atoi(args[0]); err != nil || r.Events <= 0 {
		return d.Errf("limits: %s: %q is not a positive number of events", name, args[0])
	}
	per, err := caddy.ParseDuration(args[2])
	if err != nil || per <= 0 {
		return d.Errf("limits: %s: %q is not a positive duration", name, args[2])
	}
	r.Per = caddy.Duration(per)
	if len(args) == 5 {
		if r.Burst, err = strconv.Atoi(args[4]); err != nil || r.Burst <= 0 {
			return d.Errf("limits: %s: burst %q is not a positive number", name, args[4])
		}
	}
	*dst = r
	return nil
}

func (l *Limits) parseClients(d *caddyfile.Dispenser) error {
	var arg string
	if err := oneArg(d, &arg); err != nil {
		return err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n <= 0 || n > maxLimitClients {
		return d.Errf("limits: clients must be a number from 1 to %d, not %q", maxLimitClients, arg)
	}
	l.Clients = n
	return nil
}

// parseSize reads one size such as 16KiB, up to most bytes.
func parseSize(d *caddyfile.Dispenser, dst *int64, most uint64) error {
	name := d.Val()
	var arg string
	if err := oneArg(d, &arg); err != nil {
		return err
	}
	size, err := humanize.ParseBytes(arg)
	if err != nil || size == 0 {
		return d.Errf("limits: %s: %q is not a size such as 16KiB", name, arg)
	}
	if size > most {
		return d.Errf("limits: %s: %s is over the most it can be, %s", name, arg, humanize.IBytes(most))
	}
	*dst = int64(size)
	return nil
}

package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/sessiontap/caddy-sessiontap/handler"
)

// Capture configures what sessiontap reads from the traffic it proxies.
type Capture struct {
	// HTML scans text/html 2xx responses for Nosto tagging (nosto_cart,
	// nosto_customer, nosto_page_type, nosto_product, nosto_purchase_order,
	// …). Default true.
	HTML *bool `json:"html,omitempty"`

	// Limit is how many bytes of a body are scanned; past it scanning stops
	// and the response goes on untouched. Default 2 MiB.
	Limit int64 `json:"limit,omitempty"`

	// Budget is how many bytes the captures in flight may hold together,
	// at most 4 GiB: a response that would take more is passed on
	// uncaptured and counted (outcome over_budget). Default 64 MiB.
	Budget int64 `json:"budget,omitempty"`

	// Cached lets responses that may have come from a shared cache (Age > 0,
	// a cache HIT header, Cache-Control public or s-maxage without private)
	// overwrite the session's cart and customer. Default false: such a page
	// may carry another visitor's cart.
	Cached bool `json:"cached,omitempty"`

	// JSON reads carts from the shop's cart API exchanges: presets or
	// custom routes. The first route that matches a request is used.
	JSON []JSONCapture `json:"json,omitempty"`
}

func (m *Handler) captureConfig() (handler.CaptureConfig, error) {
	c := m.Capture
	if c == nil {
		c = &Capture{}
	}
	cfg := handler.CaptureConfig{
		HTML:   c.HTML == nil || *c.HTML,
		Limit:  int(c.Limit),
		Budget: c.Budget,
		Cached: c.Cached,
	}
	for i, j := range c.JSON {
		routes, err := j.routes()
		if err != nil {
			return cfg, fmt.Errorf("capture: json[%d]: %v", i, err)
		}
		cfg.JSON = append(cfg.JSON, routes...)
	}
	return cfg, nil
}

func (m *Handler) validateCapture() error {
	if m.Capture != nil && (m.Capture.Limit < 0 || m.Capture.Limit > 64<<20) {
		return fmt.Errorf("capture: limit must be between 0 and 64 MiB")
	}
	if m.Capture != nil && (m.Capture.Budget < 0 || m.Capture.Budget > 4<<30) {
		return fmt.Errorf("capture: budget must be between 0 and 4 GiB")
	}
	_, err := m.captureConfig()
	return err
}

func (m *Handler) capture() *Capture {
	if m.Capture == nil {
		m.Capture = &Capture{}
	}
	return m.Capture
}

// parseCapture reads `capture html [on|off]`.
func (m *Handler) parseCapture(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch kind := d.Val(); kind {
	case "json":
		return m.parseCaptureJSON(d)
	case "html":
		on := true
		if d.NextArg() {
			v, err := onOff(d, "capture html")
			if err != nil {
				return err
			}
			on = v
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		m.capture().HTML = &on
		return nil
	default:
		return d.Errf("capture: expected html or json, got %q", kind)
	}
}

// parseCaptureLimit reads `capture_limit <size>`.
func (m *Handler) parseCaptureLimit(d *caddyfile.Dispenser) error {
	var raw string
	if err := oneArg(d, &raw); err != nil {
		return err
	}
	size, err := humanize.ParseBytes(raw)
	if err != nil || size == 0 {
		return d.Errf("capture_limit: %q is not a size such as 2MiB", raw)
	}
	m.capture().Limit = int64(size)
	return nil
}

// parseCaptureBudget reads `capture_budget <size>`.
func (m *Handler) parseCaptureBudget(d *caddyfile.Dispenser) error {
	var raw string
	if err := oneArg(d, &raw); err != nil {
		return err
	}
	size, err := humanize.ParseBytes(raw)
	if err != nil || size == 0 || size > 4<<30 {
		return d.Errf("capture_budget: %q is not a size such as 64MiB (at most 4GiB)", raw)
	}
	m.capture().Budget = int64(size)
	return nil
}

// parseCaptureCached reads `capture_cached on|off`.
func (m *Handler) parseCaptureCached(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	on, err := onOff(d, "capture_cached")
	if err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	m.capture().Cached = on
	return nil
}

// onOff reads the current token of option opt as on or off.
func onOff(d *caddyfile.Dispenser, opt string) (bool, error) {
	switch d.Val() {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, d.Errf("%s: expected on or off, got %q", opt, d.Val())
}

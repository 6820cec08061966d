package caddymodule

import (
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// errShopSite is why the operator handler refuses the shop's site.
var errShopSite = errors.New("sessiontap_api: it is in the same site as a sessiontap handler (the same host and port), on the shop's origin, " +
	"where any script on a shop page could use a signed-in operator's cookie; " +
	"serve it on a site of its own, e.g. an internal host or a port bound to an internal address")

// refuseShopSite refuses an operator handler on the host and port of a
// visitor handler: one of the server's top-level routes holds a visitor
// handler, another (or the same) an operator handler, and their hosts
// may meet (a route without a host matcher matches every host). A
// Caddyfile site block is one such route, or several when the server has
// a single site without a host.
//
// Caddy provisions a server's routes in order and drops each route's raw
// JSON once its handlers are loaded, so earlier routes are read as
// handlers and this one and later ones as JSON.
func refuseShopSite(ctx caddy.Context) error {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil {
		return nil
	}
	var visitors, operators []hostSet
	for _, rt := range srv.Routes {
		var names map[string]bool
		if rt.HandlersRaw != nil {
			names = rawHandlerNames(rt.HandlersRaw, map[string]bool{})
		} else {
			names = handlerNames(rt.Handlers, map[string]bool{})
		}
		hosts := routeHosts(rt)
		if names["sessiontap"] {
			visitors = append(visitors, hosts)
		}
		if names["sessiontap_api"] {
			operators = append(operators, hosts)
		}
	}
	for _, v := range visitors {
		for _, o := range operators {
			if v.meets(o) {
				return errShopSite
			}
		}
	}
	return nil
}

// hostSet is the hosts a route matches: any, or those listed (patterns
// such as *.shop.example included).
type hostSet struct {
	any   bool
	hosts []string
}

func (a hostSet) meets(b hostSet) bool {
	if a.any || b.any {
		return true
	}
	for _, x := range a.hosts {
		for _, y := range b.hosts {
			x, y := strings.ToLower(x), strings.ToLower(y)
			if m, _ := path.Match(x, y); m || x == y {
				return true
			}
			if m, _ := path.Match(y, x); m {
				return true
			}
		}
	}
	return false
}

// routeHosts reads a route's host matchers, loaded or still JSON. A
// matcher set without one matches every host.
func routeHosts(rt caddyhttp.Route) hostSet {
	var hs hostSet
	if rt.MatcherSetsRaw != nil {
		for _, set := range rt.MatcherSetsRaw {
			var hosts []string
			if raw, ok := set["host"]; !ok || json.Unmarshal(raw, &hosts) != nil {
				return hostSet{any: true}
			}
			hs.hosts = append(hs.hosts, hosts...)
		}
	} else {
		for _, set := range rt.MatcherSets {
			i := slices.IndexFunc(set, func(m any) bool { _, ok := m.(*caddyhttp.MatchHost); return ok })
			if i < 0 {
				return hostSet{any: true}
			}
			hs.hosts = append(hs.hosts, *set[i].(*caddyhttp.MatchHost)...)
		}
	}
	if len(hs.hosts) == 0 {
		return hostSet{any: true}
	}
	return hs
}

// rawHandlerNames adds the names of the handlers in raw (a route's
// "handle"), and in the routes of subroutes among them, to names.
func rawHandlerNames(raw []json.RawMessage, names map[string]bool) map[string]bool {
	for _, h := range raw {
		var mod struct {
			Handler string `json:"handler"`
			Routes  []struct {
				Handle []json.RawMessage `json:"handle"`
			} `json:"routes"`
		}
		if json.Unmarshal(h, &mod) != nil {
			continue
		}
		names[mod.Handler] = true
		for _, r := range mod.Routes {
			rawHandlerNames(r.Handle, names)
		}
	}
	return names
}

// handlerNames does what rawHandlerNames does for loaded handlers.
func handlerNames(hs []caddyhttp.MiddlewareHandler, names map[string]bool) map[string]bool {
	for _, h := range hs {
		switch h := h.(type) {
		case *Handler:
			names["sessiontap"] = true
		case *OperatorHandler:
			names["sessiontap_api"] = true
		case *caddyhttp.Subroute:
			for _, r := range h.Routes {
				if r.HandlersRaw != nil {
					rawHandlerNames(r.HandlersRaw, names)
				} else {
					handlerNames(r.Handlers, names)
				}
			}
		}
	}
	return names
}

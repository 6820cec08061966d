package handler

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// EnrichConfig says what the server adds to a session on each page view.
type EnrichConfig struct {
	// HideIP is "off" (keep the address), "truncate" (keep its network:
	// IPv4 /24, IPv6 /48) or "hash" (keep HashIP's digest). Default truncate.
	HideIP string
	// HashIP digests an address for HideIP "hash" (an HMAC under the
	// operator's key); required for that mode.
	HashIP func(string) string
	// ClientIP returns the client's address; the Caddy glue passes Caddy's
	// trusted-proxies-aware one. nil uses the connection's remote address.
	ClientIP func(*http.Request) string
}

// campaignParams maps query parameters to the campaign's fields.
var campaignParams = []struct {
	name string
	set  func(*model.Campaign, string)
}{
	{"utm_source", func(c *model.Campaign, v string) { c.Source = v }},
	{"utm_medium", func(c *model.Campaign, v string) { c.Medium = v }},
	{"utm_campaign", func(c *model.Campaign, v string) { c.Name = v }},
	{"utm_term", func(c *model.Campaign, v string) { c.Term = v }},
	{"utm_content", func(c *model.Campaign, v string) { c.Content = v }},
	{"gclid", func(c *model.Campaign, v string) { c.GCLID = v }},
	{"fbclid", func(c *model.Campaign, v string) { c.FBCLID = v }},
	{"msclkid", func(c *model.Campaign, v string) { c.MSCLKID = v }},
	{"nosto_source", func(c *model.Campaign, v string) { c.NostoSource = v }},
}

// visit describes r as a page view, or returns nil when r is not one
// (assets, XHR, API calls): only page views are counted and stored.
// consentCookie is the consent banner's cookie as a request carried it:
// looked up on the visitor's path, read (decide) with the write.
type consentCookie struct {
	value     string
	found, on bool
}

func (h *Handler) consentCookie(r *http.Request) consentCookie {
	if h.cfg.Consent == nil {
		return consentCookie{}
	}
	ck, err := r.Cookie(h.cfg.ConsentCookie)
	if err != nil {
		return consentCookie{on: true}
	}
	return consentCookie{value: ck.Value, found: true, on: true}
}

// decide is the decision c states, nil when none is configured.
func (h *Handler) decide(c consentCookie) *model.Consent {
	if !c.on {
		return nil
	}
	return h.cfg.Consent(c.value, c.found)
}

func (h *Handler) visit(r *http.Request) *model.Visit {
	if !isPageView(r) {
		return nil
	}
	v := &model.Visit{
		At:             h.now().UTC(),
		Page:           model.Cut(model.LandingPage(r.URL.RequestURI())),
		Referrer:       externalReferrer(r),
		UserAgent:      model.Cut(r.UserAgent()),
		AcceptLanguage: model.Cut(first(r.Header["Accept-Language"])),
		ClientIP:       h.hiddenIP(r),
	}
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, p := range campaignParams {
			if val := q.Get(p.name); val != "" {
				p.set(&v.Campaign, model.CleanValue(val))
			}
		}
	}
	return v
}

// isPageView tells a document navigation from everything else a page
// loads. Browsers say so in Sec-Fetch-Dest; older ones ask for HTML.
func isPageView(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if dest := r.Header["Sec-Fetch-Dest"]; len(dest) > 0 {
		return dest[0] == "document"
	}
	accept := first(r.Header["Accept"])
	return strings.Contains(accept, "text/html")
}

// externalReferrer is the Referer when it names another site, without its
// query (which may carry another site's personal data).
func externalReferrer(r *http.Request) string {
	ref := first(r.Header["Referer"])
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" || strings.EqualFold(u.Host, r.Host) {
		return ""
	}
	return model.Cut(u.Scheme + "://" + u.Host + u.Path)
}

// hiddenIP is the client address as HideIP allows it to be stored.
func (h *Handler) hiddenIP(r *http.Request) string {
	var raw string
	if h.cfg.Enrich.ClientIP != nil {
		raw = h.cfg.Enrich.ClientIP(r)
	} else {
		raw, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	switch h.cfg.Enrich.HideIP {
	case "off":
		return addr.String()
	case "hash":
		if h.cfg.Enrich.HashIP == nil {
			return ""
		}
		return h.cfg.Enrich.HashIP(addr.String())
	default:
		bits := 24
		if addr.Is6() {
			bits = 48
		}
		p, _ := addr.Prefix(bits)
		return p.String()
	}
}

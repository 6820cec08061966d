package handler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func enrichedSession(t *testing.T, h *Handler, c *http.Cookie, reqs ...*http.Request) *model.Session {
	t.Helper()
	for _, r := range reqs {
		r.AddCookie(c)
		serve(t, h, r)
	}
	id, _, _ := model.ParseCookieValue(c.Value)
	s, err := h.store.Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return s
}

func navigation(target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Sec-Fetch-Dest", "document")
	r.RemoteAddr = "203.0.113.77:51234"
	return r
}

func TestEnrichmentCountsPageViewsOnly(t *testing.T) {
	h, _, c := capturingHandler(t, nil)
	asset := httptest.NewRequest("GET", "/app.css", nil)
	asset.Header.Set("Sec-Fetch-Dest", "style")
	xhr := httptest.NewRequest("GET", "/api/x", nil)
	if s := enrichedSession(t, h, c, asset, xhr); s != nil {
		t.Fatalf("assets and XHR were recorded: %+v", s.Enrichment)
	}
	first := navigation("/landing?utm_source=news&utm_campaign=black-friday&gclid=abc")
	first.Header.Set("Referer", "https://search.example/q?private=1")
	first.Header.Set("User-Agent", "Mozilla/5.0 test")
	first.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	second := httptest.NewRequest("GET", "/product/1", nil)
	second.Header.Set("Accept", "text/html,application/xhtml+xml")
	second.Header.Set("Referer", "http://example.com/landing")
	s := enrichedSession(t, h, c, first, second)
	e := s.Enrichment
	if e.PageViews != 2 || e.LandingPage != "/landing?utm_source=news&utm_campaign=black-friday&gclid=abc" ||
		e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) {
		t.Errorf("enrichment %+v", e)
	}
	if e.Referrer != "https://search.example/q" {
		t.Errorf("referrer %q: want the external one, without its query", e.Referrer)
	}
	if e.Campaign.Source != "news" || e.Campaign.Name != "black-friday" || e.Campaign.GCLID != "abc" {
		t.Errorf("campaign %+v", e.Campaign)
	}
	if e.UserAgent != "Mozilla/5.0 test" || e.AcceptLanguage != "de-DE,de;q=0.9" {
		t.Errorf("ua %q al %q", e.UserAgent, e.AcceptLanguage)
	}
}

func TestHideIPNeverStoresTheFullAddress(t *testing.T) {
	cases := map[string]func(string) bool{
		"truncate": func(ip string) bool { return ip == "203.0.113.0/24" },
		"hash":     func(ip string) bool { return ip == "h:203.0.113.77" },
		"off":      func(ip string) bool { return ip == "203.0.113.77" },
		"":         func(ip string) bool { return ip == "203.0.113.0/24" }, // the default
	}
	for mode, ok := range cases {
		h, _, c := capturingHandler(t, func(cfg *Config) {
			cfg.Enrich = EnrichConfig{HideIP: mode, HashIP: func(s string) string { return "h:" + s }}
		})
		s := enrichedSession(t, h, c, navigation("/"))
		if !ok(s.Enrichment.ClientIP) {
			t.Errorf("hide_ip %q stored %q", mode, s.Enrichment.ClientIP)
		}
	}
	h, _, c := capturingHandler(t, nil)
	r := navigation("/")
	r.RemoteAddr = "[2001:db8:1234:5678::1]:443"
	if s := enrichedSession(t, h, c, r); s.Enrichment.ClientIP != "2001:db8:1234::/48" {
		t.Errorf("IPv6 truncated to %q", s.Enrichment.ClientIP)
	}
}

func TestEnrichmentIsBounded(t *testing.T) {
	h, _, c := capturingHandler(t, nil)
	r := navigation("/?utm_source=" + strings.Repeat("x", 5000))
	r.Header.Set("User-Agent", strings.Repeat("ü", 3000))
	s := enrichedSession(t, h, c, r)
	e := s.Enrichment
	if len(e.Campaign.Source) > 512 || len(e.UserAgent) > 512 || len(e.LandingPage) > 512 || !strings.HasPrefix(e.UserAgent, "ü") {
		t.Errorf("unbounded: source %d ua %d landing %d", len(e.Campaign.Source), len(e.UserAgent), len(e.LandingPage))
	}
}

func TestTaggedPageViewIsOneWrite(t *testing.T) {
	h, store, c := capturingHandler(t, nil)
	r := navigation("/cart")
	r.AddCookie(c)
	w := httptest.NewRecorder()
	if err := serveNow(h, w, r, html(cartTagging)); err != nil {
		t.Fatal(err)
	}
	id, _, _ := model.ParseCookieValue(c.Value)
	s, _ := store.Get(context.Background(), id)
	if s.Version != 1 || s.Enrichment.PageViews != 1 || len(s.Cart.Items) != 1 {
		t.Errorf("version %d views %d items %d: capture and page view should be one write", s.Version, s.Enrichment.PageViews, len(s.Cart.Items))
	}
}

// A campaign value is decoded from the URL, so it can hold any control
// character; the session keeps it with each one made a space.
func TestCampaignValuesAreStoredClean(t *testing.T) {
	h, _, c := capturingHandler(t, nil)
	s := enrichedSession(t, h, c, navigation("/?utm_source=a%01b%7Fc%0Ad&utm_medium=%1Bmail%00"))
	if got := s.Enrichment.Campaign; got.Source != "a b c d" || got.Medium != "mail" {
		t.Errorf("campaign stored as %+q", got)
	}
}

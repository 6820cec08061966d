package model

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Enrichment is what only the server sees about a visitor: when and how
// often they came, from where, and with what. It is bounded: every string is
// cut (see maxEnrichmentText), so a session never grows through it.
type Enrichment struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	PageViews int       `json:"page_views"`
	// LandingPage is the path of the first page view with, of its query,
	// only the campaign parameters (LandingParams).
	LandingPage string `json:"landing_page,omitempty"`
	// Referrer is the first referrer from another site.
	Referrer string `json:"referrer,omitempty"`
	// Campaign holds the UTM parameters and click ids of the latest visit
	// that had any.
	Campaign Campaign `json:"campaign"`
	// ClientIP is the client's address as hide_ip allows: in full, cut to
	// its network (IPv4 /24, IPv6 /48), or an HMAC.
	ClientIP       string `json:"client_ip,omitempty"`
	UserAgent      string `json:"user_agent,omitempty"`
	AcceptLanguage string `json:"accept_language,omitempty"`
}

// Campaign is where a visit came from, as its URL said.
type Campaign struct {
	Source      string `json:"utm_source,omitempty"`
	Medium      string `json:"utm_medium,omitempty"`
	Name        string `json:"utm_campaign,omitempty"`
	Term        string `json:"utm_term,omitempty"`
	Content     string `json:"utm_content,omitempty"`
	GCLID       string `json:"gclid,omitempty"`
	FBCLID      string `json:"fbclid,omitempty"`
	MSCLKID     string `json:"msclkid,omitempty"`
	NostoSource string `json:"nosto_source,omitempty"`
}

// IsZero reports whether the campaign is empty.
func (c Campaign) IsZero() bool { return c == Campaign{} }

// Visit is one page view as the server saw it, built on the request path
// from immutable copies of what the request carried.
type Visit struct {
	At             time.Time
	Page           string // path and campaign parameters (LandingPage)
	Referrer       string // only when from another site
	Campaign       Campaign
	ClientIP       string // already hidden as configured
	UserAgent      string
	AcceptLanguage string
}

const maxEnrichmentText = 512

// LandingParams are the query parameters a landing page keeps: the UTM
// parameters and the ad platforms' click ids (Google's gclid, dclid,
// gbraid, wbraid; Meta's fbclid; Microsoft's msclkid; TikTok's ttclid;
// X's twclid; LinkedIn's li_fat_id; Yandex's yclid) and Nosto's source.
// Anything else in a query may be a password-reset token or an email,
// and the landing page is sent to webhooks and shown to the shop.
var LandingParams = []string{
	"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",
	"gclid", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "twclid",
	"li_fat_id", "yclid", "nosto_source",
}

// LandingPage is a request URI (path and query) as a landing page keeps
// it: the path, and the LandingParams of the query in their order,
// re-encoded (so no other parameter hides behind a ';' or a stray '&').
// The fragment and every other parameter are left out.
func LandingPage(uri string) string {
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	path, query, _ := strings.Cut(uri, "?")
	var kept []string
	for pair := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || !slices.Contains(LandingParams, k) {
			continue
		}
		if v, err = url.QueryUnescape(v); err == nil {
			kept = append(kept, k+"="+url.QueryEscape(v))
		}
	}
	if len(kept) == 0 {
		return path
	}
	return path + "?" + strings.Join(kept, "&")
}

// Cut bounds s to at most maxEnrichmentText bytes on a character boundary.
func Cut(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxEnrichmentText {
		return s
	}
	s = s[:maxEnrichmentText]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

// CleanValue is a value decoded from a URL as enrichment keeps it: every
// C0 control character and DEL (a decoded %01 or %0A) becomes a space,
// then Cut bounds it. Stored values reach placeholders, headers and
// sinks; a control character there breaks a header line or a log.
func CleanValue(s string) string {
	if strings.ContainsFunc(s, isControl) {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	return Cut(s)
}

// isControl reports whether r is a C0 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// apply records the visit on e.
func (v *Visit) apply(e *Enrichment) {
	if e.FirstSeen.IsZero() {
		e.FirstSeen = v.At
		e.LandingPage = v.Page
	}
	e.LastSeen = v.At
	e.PageViews++
	if e.Referrer == "" {
		e.Referrer = v.Referrer
	}
	if !v.Campaign.IsZero() {
		e.Campaign = v.Campaign
	}
	setIf(&e.ClientIP, v.ClientIP)
	setIf(&e.UserAgent, v.UserAgent)
	setIf(&e.AcceptLanguage, v.AcceptLanguage)
}

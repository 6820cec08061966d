// Package consent reads a visitor's consent decision from the cookie in
// which the shop's consent banner keeps it, in the banner's format, into
// the purposes it grants (model.Consent).
package consent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// A Format reads a consent cookie's value into the purposes it grants, in
// the format's own names.
type Format func(value string) ([]string, error)

// Formats are the cookie formats by name: see the README's table of
// what each grants.
var Formats = map[string]Format{
	"tcf":       tcf,
	"cookiebot": cookiebot,
	"onetrust":  onetrust,
	"json":      jsonList,
	"list":      list,
}

// FormatNames lists Formats' names, sorted, for errors.
func FormatNames() []string {
	var out []string
	for n := range Formats {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Config says where the decision is and how to read it.
type Config struct {
	// Cookie is the cookie's name, e.g. "euconsent-v2".
	Cookie string
	// Format is a name of Formats.
	Format string
	// Default are the purposes granted to a visitor without the cookie:
	// none, unless the shop says otherwise. A cookie that does not read
	// grants nothing, whatever Default says: the visitor decided
	// something, and not knowing what must not send their data.
	Default []string
	// Purposes are the shop's names for what the format grants: a name is
	// granted when every one of its format's names is.
	Purposes map[string][]string
}

// Validate checks the format's name.
func (c *Config) Validate() error {
	if c.Cookie == "" {
		return fmt.Errorf("consent: a cookie name is required")
	}
	if _, ok := Formats[c.Format]; !ok {
		return fmt.Errorf("consent: unknown format %q; use one of %s", c.Format, strings.Join(FormatNames(), ", "))
	}
	return nil
}

// Decide reads r's decision: the purposes its cookie grants, with the
// shop's names for them, sorted.
func (c *Config) Decide(r *http.Request) *model.Consent {
	ck, err := r.Cookie(c.Cookie)
	if err != nil {
		return c.DecideValue("", false)
	}
	return c.DecideValue(ck.Value, true)
}

// DecideValue is Decide of the cookie's value, found or not: the lookup
// is cheap on a request's path, the reading can wait for its write.
func (c *Config) DecideValue(value string, found bool) *model.Consent {
	var granted []string
	stated := false
	switch {
	case !found:
		granted = slices.Clone(c.Default)
	default:
		if g, err := Formats[c.Format](value); err == nil {
			granted, stated = g, true
		}
	}
	for name, needs := range c.Purposes {
		if len(needs) > 0 && !slices.Contains(granted, name) && containsAll(granted, needs) {
			granted = append(granted, name)
		}
	}
	slices.Sort(granted)
	return &model.Consent{Granted: slices.Compact(granted), Stated: stated}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// tcf grants "tcf-N" for each TCF purpose N the visitor consented to.
func tcf(v string) ([]string, error) {
	tc, err := ParseTCString(v)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(tc.PurposesConsent))
	for _, p := range tc.PurposesConsent {
		out = append(out, "tcf-"+strconv.Itoa(p))
	}
	return out, nil
}

// cookiebotCategory is a category of Cookiebot's CookieConsent cookie:
// {stamp:'…',necessary:true,preferences:false,statistics:true,marketing:false,…}
var cookiebotCategory = regexp.MustCompile(`(necessary|preferences|statistics|marketing)\s*:\s*(true|false)`)

// cookiebot grants the categories Cookiebot's CookieConsent cookie says
// true. "-1" is Cookiebot's "no consent needed" (a visitor outside the
// regions that require it): all four.
func cookiebot(v string) ([]string, error) {
	if d, err := url.QueryUnescape(v); err == nil {
		v = d
	}
	if strings.TrimSpace(v) == "-1" {
		return []string{"marketing", "necessary", "preferences", "statistics"}, nil
	}
	m := cookiebotCategory.FindAllStringSubmatch(v, -1)
	if m == nil {
		return nil, fmt.Errorf("cookiebot: no category in the cookie")
	}
	var out []string
	for _, c := range m {
		if c[2] == "true" {
			out = append(out, c[1])
		}
	}
	return out, nil
}

// onetrust grants the groups OneTrust's OptanonConsent cookie marks 1:
// its groups parameter, "C0001:1,C0002:0,…" (C0001 strictly necessary,
// C0002 performance, C0003 functional, C0004 targeting, C0005 social
// media, as OneTrust names them by default).
func onetrust(v string) ([]string, error) {
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, fmt.Errorf("onetrust: %w", err)
	}
	groups := q.Get("groups")
	if groups == "" {
		return nil, fmt.Errorf("onetrust: no groups in the cookie")
	}
	var out []string
	for g := range strings.SplitSeq(groups, ",") {
		if id, on, ok := strings.Cut(g, ":"); ok && on == "1" && id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

// jsonList grants the keys of a JSON object whose value is true, or the
// strings of a JSON array (URL-encoded or not).
func jsonList(v string) ([]string, error) {
	if d, err := url.QueryUnescape(v); err == nil {
		v = d
	}
	var obj map[string]bool
	if err := json.Unmarshal([]byte(v), &obj); err == nil {
		var out []string
		for k, on := range obj {
			if on {
				out = append(out, k)
			}
		}
		return out, nil
	}
	var arr []string
	if err := json.Unmarshal([]byte(v), &arr); err != nil {
		return nil, fmt.Errorf("json: neither an object of booleans nor an array of names")
	}
	return arr, nil
}

// list grants the names of a comma-, space- or pipe-separated list.
func list(v string) ([]string, error) {
	if d, err := url.QueryUnescape(v); err == nil {
		v = d
	}
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '|' }), nil
}

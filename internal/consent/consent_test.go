package consent

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

func TestFormats(t *testing.T) {
	for _, c := range []struct{ format, value, want string }{
		// Cookiebot's cookie as it sets it (URL-encoded JS object).
		{"cookiebot", url.QueryEscape("{stamp:'-2bJpNhVhVUkY9Mx1cxNjX8f0QKc2JvQZ3vTnOyeprTs2c+DwdKXqyw==',necessary:true,preferences:false,statistics:true,marketing:false,method:'explicit',ver:1,utc:1700000000000,region:'de'}"), "[necessary statistics]"},
		{"cookiebot", "-1", "[marketing necessary preferences statistics]"},
		{"onetrust", "isGpcEnabled=0&datestamp=Thu+Dec+07+2026&version=202310.1.0&isIABGlobal=false&hosts=&consentId=x&interactionCount=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0", "[C0001 C0003]"},
		{"json", `{"personalization":true,"promotions":false}`, "[personalization]"},
		{"json", url.QueryEscape(`["analytics","marketing"]`), "[analytics marketing]"},
		{"list", "marketing,personalization", "[marketing personalization]"},
		{"tcf", "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA", "[tcf-3 tcf-4 tcf-5 tcf-6 tcf-7 tcf-8 tcf-9]"},
	} {
		got, err := Formats[c.format](c.value)
		slices.Sort(got)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("%s %q: %v, %v; want %s", c.format, c.value, got, err, c.want)
		}
	}
	for format, bad := range map[string]string{"cookiebot": "nothing", "onetrust": "groups=", "json": "{x", "tcf": "x"} {
		if _, err := Formats[format](bad); err == nil {
			t.Errorf("%s read %q", format, bad)
		}
	}
}

// The shop's names for the format's: "personalisation" is granted when
// TCF purposes 5 and 6 are; no cookie (or one that does not read) grants
// the default, one that does not read nothing, and both say the visitor
// stated nothing.
func TestDecide(t *testing.T) {
	c := &Config{Cookie: "euconsent-v2", Format: "tcf", Default: []string{"necessary"},
		Purposes: map[string][]string{"personalisation": {"tcf-5", "tcf-6"}, "ads": {"tcf-2", "tcf-4"}}}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "euconsent-v2=COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA")
	d := c.Decide(r)
	if !d.Stated || !d.Allows([]string{"personalisation", "tcf-3"}) || d.Allows([]string{"ads"}) {
		t.Errorf("purposes 3-9: %+v", d)
	}
	for cookie, want := range map[string]string{"": "[necessary]", "euconsent-v2=garbage": "[]"} {
		r := httptest.NewRequest("GET", "/", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		// No cookie: the default. One that does not read: nothing.
		if d := c.Decide(r); d.Stated || fmt.Sprint(d.Granted) != want {
			t.Errorf("cookie %q: %+v, want %s, not stated", cookie, d, want)
		}
	}
}

package model

import "testing"

func TestLandingPageKeepsOnlyCampaignParams(t *testing.T) {
	cases := map[string]string{
		"/":                      "/",
		"/shoes":                 "/shoes",
		"/shoes?":                "/shoes",
		"/shoes#top":             "/shoes",
		"/reset?token=s3cret":    "/reset",
		"/a?utm_source=news&x=1": "/a?utm_source=news",
		"/a?email=v%40example.com&utm_campaign=spring&gclid=g1&fbclid=f1&li_fat_id=l1&ref=x": "/a?utm_campaign=spring&gclid=g1&fbclid=f1&li_fat_id=l1",
		// A ';' does not smuggle a parameter into a kept one's value
		// unencoded, and odd encodings come out re-encoded.
		"/a?utm_source=x;token=abc":     "/a?utm_source=x%3Btoken%3Dabc",
		"/a?utm_%73ource=n%20e&token=1": "/a?utm_source=n+e",
		"/a?utm_source=%zz&gclid=g":     "/a?gclid=g",
		"/a?utm_source=n#token=1":       "/a?utm_source=n",
	}
	for in, want := range cases {
		if got := LandingPage(in); got != want {
			t.Errorf("LandingPage(%q) = %q, want %q", in, got, want)
		}
	}
}

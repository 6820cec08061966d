package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// adaptCaddyfile adapts input as `caddy adapt` does a file named Caddyfile.
func adaptCaddyfile(input string) ([]byte, error) {
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(input), nil)
	return out, err
}

// TestForwardMissingOptionNamesTheForwardLine: a required option missing
// from a forward block is reported at the forward line (7), not at the
// block's closing brace (10).
func TestForwardMissingOptionNamesTheForwardLine(t *testing.T) {
	cases := []struct{ sink, url, present, want string }{
		{"talonone", "https://base.talon.one", "on action\n\t\t\tdry", "forward talonone: api_key is required"},
		{"emporix", "https://api.emporix.io", "tenant shop\n\t\t\tclient_id id", "forward emporix: client_secret is required"},
		{"nosto", "https://api.nosto.com/v1/graphql", "on change\n\t\t\ton action", "forward nosto: token is required"},
		{"webhook", "https://hooks.example.com/s", "on change\n\t\t\ton action", "forward webhook: secret is required"},
	}
	for _, tc := range cases {
		input := `:8080 {
	sessiontap {
		collect /c
		respect_dnt off
		hide_ip hash
		# the forward line is line 7
		forward ` + tc.sink + ` ` + tc.url + ` {
			` + tc.present + `
		}
	}
	respond ok
}`
		if strings.Count(input[:strings.Index(input, "\t\tforward ")], "\n") != 6 {
			t.Fatal("the test's forward line moved")
		}
		_, err := adaptCaddyfile(input)
		want := "parsing caddyfile tokens for 'sessiontap': " + tc.want + ", at Caddyfile:7"
		if err == nil || err.Error() != want {
			t.Errorf("%s: error\n\t%v\nwant\n\t%s", tc.sink, err, want)
		}
	}
}

// TestUnrecognizedOptionsSuggest covers every block that can report an
// unrecognized option.
func TestUnrecognizedOptionsSuggest(t *testing.T) {
	cases := []struct{ input, want string }{
		{"sessiontap {\n\trespect_dtn off\n}", `unrecognized subdirective "respect_dtn", did you mean "respect_dnt"?, at Testfile:2`},
		{"sessiontap {\n\tcolect /c\n}", `unrecognized subdirective "colect", did you mean "collect"?, at Testfile:2`},
		{"sessiontap {\n\tcapture_limt 1MiB\n}", `unrecognized subdirective "capture_limt", did you mean "capture_limit"?, at Testfile:2`},
		{"sessiontap {\n\tHMAC_KEY k\n}", `unrecognized subdirective "HMAC_KEY", did you mean "hmac_key"?, at Testfile:2`},
		{"sessiontap {\n\tfrobnicate on\n}", `unrecognized subdirective "frobnicate", at Testfile:2`},
		{"sessiontap {\n\tstore bigcache {\n\t\tmax_sise 1MiB\n\t}\n}", `store bigcache: unrecognized option "max_sise", did you mean "max_size"?, at Testfile:3`},
		{"sessiontap {\n\tstore bigcache {\n\t\ttll\n\t}\n}", `store bigcache: unrecognized option "tll", did you mean "ttl"?, at Testfile:3`},
		{"sessiontap {\n\tcapture json {\n\t\tprodcut_id id\n\t}\n}", `capture json: unrecognized option "prodcut_id", did you mean "product_id"?, at Testfile:3`},
		{"sessiontap {\n\tcapture json {\n\t\tunitprice p\n\t}\n}", `capture json: unrecognized option "unitprice", did you mean "unit_price"?, at Testfile:3`},
		{"sessiontap {\n\tforward talonone https://x {\n\t\tapikey k\n\t}\n}", `forward talonone: unrecognized option "apikey", did you mean "api_key"?, at Testfile:3`},
		{"sessiontap {\n\tforward talonone https://x {\n\t\tapi_key k\n\t\tresponse customerSession\n\t}\n}", `forward talonone: unrecognized option "response", did you mean "response_content"?, at Testfile:4`},
		{"sessiontap {\n\tforward talon https://x {\n\t\tapi_key k\n\t}\n}", `forward "talon": unknown sink, did you mean "talonone"?, at Testfile:2`},
		{"sessiontap {\n\tforward salesforce https://x\n}", `forward "salesforce": unknown sink; use one of talonone, emporix, nosto, webhook, at Testfile:2`},
		{"sessiontap {\n\tdelivery {\n\t\tmax_attempt 3\n\t}\n}", `delivery: unrecognized option "max_attempt", did you mean "max_attempts"?, at Testfile:3`},
		{"sessiontap {\n\tdelivery {\n\t\ttimout\n\t}\n}", `delivery: unrecognized option "timout", did you mean "timeout"?, at Testfile:3`},
		{"sessiontap {\n\tstore reddis\n}", `store: no such backend "reddis", did you mean "redis"?, at Testfile:2`},
		{"sessiontap {\n\tforward webhook\n}", `forward webhook: its URL is missing, e.g. forward webhook https://…, at Testfile:2`},
		{"sessiontap {\n\tforward\n}", `forward: name the sink and its URL, e.g. forward webhook https://hooks.example.com/sessiontap, at Testfile:2`},
	}
	for _, tc := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%q: error\n\t%v\nwant it to end in\n\t%s", tc.input, err, tc.want)
		}
	}
	operatorCases := []struct{ input, want string }{
		{"sessiontap_api /ops {\n\tkye k\n}", `sessiontap_api: unrecognized option "kye", did you mean "key"?, at Testfile:2`},
		{"sessiontap_api /ops {\n\tkey k\n\tsaas_tokn hmac k\n}", `sessiontap_api: unrecognized option "saas_tokn", did you mean "saas_token"?, at Testfile:3`},
		{"sessiontap_api /ops {\n\tkey k\n\tbackend_kye b\n}", `sessiontap_api: unrecognized option "backend_kye", did you mean "backend_key"?, at Testfile:3`},
		{"sessiontap_api /ops {\n\tkey k\n\tstroe bigcache\n}", `sessiontap_api: unrecognized option "stroe", did you mean "store"?, at Testfile:3`},
		{"sessiontap_api /ops {\n\tkey k\n\tstore bigcache {\n\t\tmax_sise 1MiB\n\t}\n}", `store bigcache: unrecognized option "max_sise", did you mean "max_size"?, at Testfile:4`},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\ttll 1h\n\t}\n}", `inspector: unrecognized option "tll", did you mean "ttl"?, at Testfile:4`},
		{"sessiontap_api /ops {\n\tkey k\n\tcollect /c\n}", `sessiontap_api: unrecognized option "collect", at Testfile:3`},
	}
	for _, tc := range operatorCases {
		var o OperatorHandler
		err := o.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%q: error\n\t%v\nwant it to end in\n\t%s", tc.input, err, tc.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	known := []string{"capture", "capture_cached", "capture_limit", "collect", "cookie", "key", "on"}
	cases := map[string]string{
		"colect":      "collect",       // deletion
		"cokie":       "cookie",        // deletion
		"ocokie":      "cookie",        // swap of neighbours counts once
		"captrue":     "capture",       // swap
		"capture_lim": "capture_limit", // two insertions away
		"capture_c":   "capture",       // "capture" is nearer than the prefix match
		"capture_cac": "capture_cached",
		"kye":         "key",
		"ky":          "key",
		"n":           "", // one edit, but a suggestion needs fewer edits than letters
		"x":           "",
		"xy":          "",
		"cap":         "capture", // prefix: the first in the list wins
		"ca":          "",        // too short for a prefix match
		"frobnicate":  "",
	}
	for got, want := range cases {
		s := didYouMean(got, known)
		if want == "" && s != "" || want != "" && s != `, did you mean "`+want+`"?` {
			t.Errorf("didYouMean(%q) = %q, want %q", got, s, want)
		}
	}
}

// TestStoreOptionsMatchSwitch keeps bigcacheOptions, the list that store
// suggestions are drawn from, in step with the options the store parses:
// each listed option must set its field, and values lists every option.
func TestStoreOptionsMatchSwitch(t *testing.T) {
	values := map[string]string{"name": "shop", "ttl": "1h", "max_size": "1MiB"}
	if strings.Join(optionNames(values), ",") != strings.Join(bigcacheOptions, ",") {
		t.Fatalf("bigcacheOptions %v, the test knows %v", bigcacheOptions, optionNames(values))
	}
	for opt, v := range values {
		var b BigcacheStore
		d := caddyfile.NewTestDispenser("bigcache {\n" + opt + " " + v + "\n}")
		if err := b.UnmarshalCaddyfile(d); err != nil {
			t.Errorf("%s: %v", opt, err)
		}
		if b == (BigcacheStore{}) {
			t.Errorf("%s: accepted but set nothing", opt)
		}
	}
}

// An option of another sink is refused where it is written: ignoring it
// would leave the sink configured other than the operator thinks.
func TestForwardOptionOfAnotherSink(t *testing.T) {
	input := ":8080 {\n\tsessiontap {\n\t\tforward webhook https://hooks.example.com/s {\n\t\t\tsecret s\n\t\t\tapi_key k\n\t\t}\n\t}\n\trespond ok\n}"
	_, err := adaptCaddyfile(input)
	want := "forward webhook: api_key is an option of talonone only, at Caddyfile:5"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %v, want it to end %q", err, want)
	}
}

// Mistakes in the consent block are parse errors at their line, with
// what to write.
func TestConsentCaddyfileErrors(t *testing.T) {
	for body, want := range map[string]string{
		"consent {\n\t\t\tcookie euconsent-v2 tfc\n\t\t}":       `consent: unknown format "tfc"; use one of cookiebot, json, list, onetrust, tcf, did you mean "tcf"?, at Caddyfile:4`,
		"consent {\n\t\t\tdefault necessary\n\t\t}":             "consent: cookie <name> <format> is required, at Caddyfile:5",
		"consent {\n\t\t\tcookie x tcf\n\t\t\tdefault\n\t\t}":   "consent: default <purpose>..., the purposes a visitor without the cookie has granted, at Caddyfile:5",
		"consent {\n\t\t\tpurpose personalisation\n\t\t}":       "consent: purpose <name> <granted>..., e.g. purpose personalisation tcf-5 tcf-6, at Caddyfile:4",
		"consent {\n\t\t\tcookie x tcf\n\t\t\tdefualt a\n\t\t}": `consent: unrecognized option "defualt", did you mean "default"?, at Caddyfile:5`,
	} {
		input := ":8080 {\n\tsessiontap {\n\t\t" + body + "\n\t}\n\trespond ok\n}"
		_, err := adaptCaddyfile(input)
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%q: error\n\t%v\nwant it to end in\n\t%s", body, err, want)
		}
	}
}

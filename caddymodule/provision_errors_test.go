package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// validateCaddyfile is `caddy validate` of a Caddyfile: adapt, then
// provision and validate every module without starting anything.
func validateCaddyfile(t *testing.T, input string) error {
	t.Helper()
	out, err := adaptCaddyfile(input)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return validateJSON(t, out)
}

func validateJSON(t *testing.T, config []byte) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// site wraps sessiontap's block in a site; the block's first line is line 3.
func site(block string) string {
	return ":8080 {\n\tsessiontap {\n" + block + "\n\t}\n\trespond ok\n}\n"
}

// operatorSite wraps sessiontap_api's block in a site of its own; the
// block's first line is line 3.
func operatorSite(block string) string {
	return ":8081 {\n\tsessiontap_api /ops {\n" + block + "\n\t}\n\trespond ok\n}\n"
}

// TestEmptySecretNamesOptionPlaceholderAndLine: a sink's secret whose
// {env.X} is unset fails validation with the option, the placeholder and
// the option's line (the forward line is 3, the option's 4 or later).
func TestEmptySecretNamesOptionPlaceholderAndLine(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET", "")
	t.Setenv("SESSIONTAP_TEST_UNSET2", "")
	cases := []struct{ block, want string }{
		{"\t\tforward talonone https://base.talon.one {\n\t\t\tapi_key {env.SESSIONTAP_TEST_UNSET}\n\t\t}",
			`forward talonone: api_key "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:4`},
		{"\t\tforward emporix https://api.emporix.io {\n\t\t\ttenant shop\n\t\t\tclient_id id\n\t\t\tclient_secret {env.SESSIONTAP_TEST_UNSET}\n\t\t}",
			`forward emporix: client_secret "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:6`},
		{"\t\tforward nosto https://api.nosto.com/v1/graphql {\n\t\t\ttoken {env.SESSIONTAP_TEST_UNSET}{env.SESSIONTAP_TEST_UNSET2}\n\t\t}",
			`forward nosto: token "{env.SESSIONTAP_TEST_UNSET}{env.SESSIONTAP_TEST_UNSET2}" is empty after replacing placeholders (are SESSIONTAP_TEST_UNSET and SESSIONTAP_TEST_UNSET2 set?), at Caddyfile:4`},
		{"\t\tforward webhook https://hooks.example.com/s {\n\t\t\ton action\n\t\t\tsecret {env.SESSIONTAP_TEST_UNSET}\n\t\t}",
			`forward webhook: secret "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:5`},
		{"\t\tcookie sid secret {env.SESSIONTAP_TEST_UNSET}",
			`cookie: secret "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:3`},
		{"\t\tcookie sid secret too-short",
			`cookie: secret must be at least 16 bytes, got 9; generate one with: openssl rand -base64 32, at Caddyfile:3`},
		{"\t\tcollect /c {\n\t\t\tcustomer_token hmac {env.SESSIONTAP_TEST_UNSET}\n\t\t}",
			`collect: customer_token hmac "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:4`},
	}
	for _, tc := range cases {
		// hmac_key after the block, so that the lines above stay put.
		err := validateCaddyfile(t, site(tc.block+"\n\t\thmac_key k"))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, tc.want)
		}
	}
	// The operator handler's saas_token, on its own site.
	err := validateCaddyfile(t, operatorSite("\t\tkey k\n\t\tsaas_token hmac {env.SESSIONTAP_TEST_UNSET}"))
	want := `saas_token hmac "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:4`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
	}
}

// TestAPIKeysEmptyAfterPlaceholders: an empty key is ignored, as before;
// only when no key is left is the config refused, naming each key's
// placeholder and line, and never the value of another secret.
func TestAPIKeysEmptyAfterPlaceholders(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET", "")
	t.Setenv("SESSIONTAP_TEST_UNSET2", "")
	t.Setenv("SESSIONTAP_TEST_SET", "s3cret-value")
	block := "\t\tbackend_key {env.SESSIONTAP_TEST_SET}\n" +
		"\t\tkey {env.SESSIONTAP_TEST_UNSET}\n" +
		"\t\tkey {env.SESSIONTAP_TEST_UNSET2}"
	err := validateCaddyfile(t, operatorSite(block))
	want := `no usable key (a key that is empty is ignored): ` +
		`key "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?), at Caddyfile:4; ` +
		`key "{env.SESSIONTAP_TEST_UNSET2}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET2 set?), at Caddyfile:5`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret-value") {
		t.Errorf("the error shows a secret: %v", err)
	}

	withUsableKey := strings.Replace(block, "{env.SESSIONTAP_TEST_UNSET2}", "{env.SESSIONTAP_TEST_SET}", 1)
	if err := validateCaddyfile(t, operatorSite(withUsableKey)); err != nil {
		t.Errorf("one usable key left, config refused: %v", err)
	}
}

// TestEmptySecretFromJSON: a JSON config carries no origins; the error
// still names the option and its placeholder, and ends there.
func TestEmptySecretFromJSON(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET", "")
	config := `{"apps":{"http":{"servers":{"s":{"listen":[":8080"],"routes":[{"handle":[
		{"handler":"sessiontap","forward":[{"to":"talonone","url":"https://base.talon.one","api_key":"{env.SESSIONTAP_TEST_UNSET}"}]}
	]}]}}}}}`
	err := validateJSON(t, []byte(config))
	want := `forward talonone: api_key "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?)`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
	}
}

// TestOriginsLeaveTheDeliveryEngineAlone: moving a forward block to other
// lines must keep the engine (and its pending deliveries) on reload.
func TestOriginsLeaveTheDeliveryEngineAlone(t *testing.T) {
	f := Forward{To: "webhook", URL: "https://x", Secret: "s"}
	a, b := f, f
	a.Origins = map[string]string{"forward": "Caddyfile:7", "secret": "Caddyfile:8"}
	b.Origins = map[string]string{"forward": "Caddyfile:17", "secret": "Caddyfile:18"}
	ha, hb := &Handler{Forward: []Forward{a}}, &Handler{Forward: []Forward{b}}
	ka, err := ha.deliveryKey()
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := hb.deliveryKey()
	if ka != kb {
		t.Errorf("engine keys differ by origin only: %s, %s", ka, kb)
	}
	if ha.Forward[0].Origins == nil {
		t.Error("deliveryKey cleared the handler's own origins")
	}
}

// Without hmac_key, hide_ip hash and the third-party sinks are refused at
// the line that needs the key; hmac_key none lets the sinks through on
// purpose, never hide_ip hash. A key from an unset placeholder is refused
// at Provision.
func TestHMACKeyRequired(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET", "")
	talon := "\t\tforward talonone https://base.talon.one {\n\t\t\tapi_key k\n\t\t}"
	hashIP := "hide_ip hash needs hmac_key: an IPv4 address hashed under no key is found by trying all 2^32 of them; set hmac_key, or use hide_ip truncate"
	thirdParty := "forward talonone sends customer references pseudonymised under hmac_key, and none is set; set hmac_key, or hmac_key none to send them under an empty key on purpose"
	for block, want := range map[string]string{
		"\t\thide_ip hash":                    hashIP + ", at Caddyfile:3",
		"\t\thmac_key none\n\t\thide_ip hash": hashIP + ", at Caddyfile:4",
		talon:                                 thirdParty + ", at Caddyfile:3",
	} {
		if _, err := adaptCaddyfile(site(block)); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
		}
	}
	err := validateCaddyfile(t, site(talon+"\n\t\thmac_key {env.SESSIONTAP_TEST_UNSET}"))
	want := thirdParty + ` (hmac_key "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?)), at Caddyfile:3`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("unset key: %v", err)
	}
	for _, ok := range []string{
		talon + "\n\t\thmac_key none",
		"\t\tforward webhook https://h.example.com {\n\t\t\tsecret s\n\t\t}", // the shop's own endpoint
		"\t\thide_ip hash\n\t\thmac_key k",
	} {
		if err := validateCaddyfile(t, site(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

package caddymodule

import (
	"fmt"
	"strings"
	"testing"
)

// TestProvisionErrorsNameTheirLine: mistakes found only at Provision or
// Validate, after the Caddyfile was parsed, name the option's file and
// line as parse errors do (the sessiontap block's first line is line 3,
// sessiontap_api's directive line 2).
func TestProvisionErrorsNameTheirLine(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET", "")
	cases := []struct{ config, want string }{
		{site("\t\tcollect nope"), "collect: path must start with /, e.g. collect /_sessiontap/collect, at Caddyfile:3"},
		{site("\t\thistory 3\n\t\tdelivery {\n\t\t\tlease 15s\n\t\t}"), "delivery: lease applies to the Redis store only (with the embedded store, deliveries stay in this process), at Caddyfile:4"},
		{site("\t\tdelivery {\n\t\t\tqueue_bytes 8MiB\n\t\t}"), "delivery: queue_bytes applies to the Redis store only (with the embedded store, queue_size bounds the queue in this process's memory), at Caddyfile:3"},
		{site("\t\tstore redis {\n\t\t\taddress 127.0.0.1:1\n\t\t\tindex_key 0123456789abcdef0123\n\t\t}"), ", at Caddyfile:3"},
		// About the forward that needs the key: its line.
		{site("\t\thmac_key {env.SESSIONTAP_TEST_UNSET}\n\t\tforward talonone https://base.talon.one {\n\t\t\tapi_key k\n\t\t}"),
			`(hmac_key "{env.SESSIONTAP_TEST_UNSET}" is empty after replacing placeholders (is SESSIONTAP_TEST_UNSET set?)), at Caddyfile:4`},
		// A forward that requires consent, without a consent block: at the
		// requires line.
		{site("\t\thmac_key 0123456789abcdef\n\t\tforward webhook https://hooks.example.com/s {\n\t\t\tsecret s\n\t\t\trequires marketing\n\t\t}"),
			"add consent { cookie <name> tcf|cookiebot|onetrust|json|list }, at Caddyfile:6"},
		{operatorSite("\t\tkey k\n\t\tinspector {\n\t\t\tsecret short\n\t\t}"), "inspector: secret must be at least 16 bytes (is its environment variable set?), at Caddyfile:4"},
		{":8081 {\n\tsessiontap_api /ops/ {\n\t\tkey k\n\t}\n}\n", "sessiontap_api: prefix must start with / and not end with /, e.g. /_sessiontap/api, at Caddyfile:2"},
	}
	for _, tc := range cases {
		err := validateCaddyfile(t, tc.config)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s\nerror\n\t%v\nwant it to end in\n\t%s", tc.config, err, tc.want)
		}
	}
}

func TestOptionOf(t *testing.T) {
	for msg, want := range map[string]string{
		"collect: path must start with /":           "collect",
		"forward webhook: secret is empty":          "forward",
		"sessions[0]: from must be cookie":          "session",
		"loading session store: redis: refused":     "store",
		"hmac_key is required with a talonone sink": "hmac_key",
		"inspector: secret must be":                 "inspector",
	} {
		if got := optionOf(msg); got != want {
			t.Errorf("optionOf(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TLS to a Redis that speaks none only times out: the error says what to
// check.
func TestRedisTLSMismatchSaysSo(t *testing.T) {
	block := fmt.Sprintf("\t\tstore redis {\n\t\t\taddress %s\n\t\t\ttls\n\t\t\ttimeout 300ms\n\t\t\tindex_key 0123456789abcdef0123\n\t\t}", redisAddr(t))
	err := validateCaddyfile(t, site(block))
	want := "(tls is on: does the server speak TLS on that port?), at Caddyfile:3"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error\n\t%v\nwant it to end in\n\t%s", err, want)
	}
}

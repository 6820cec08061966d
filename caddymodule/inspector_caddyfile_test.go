package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parseHandler(t *testing.T, input string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

func parseOperator(t *testing.T, input string) (*OperatorHandler, error) {
	t.Helper()
	o := new(OperatorHandler)
	err := o.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return o, err
}

func TestCaddyfileInspectorAndHistory(t *testing.T) {
	h, err := parseHandler(t, "sessiontap {\n\thistory 5\n}")
	if err != nil || h.History == nil || *h.History != 5 {
		t.Fatalf("history: %+v, %v", h.History, err)
	}
	o, err := parseOperator(t, "sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\tttl 15m\n\t\tfeed_size 300\n\t\tsecret {env.INSPECTOR_SECRET}\n\t}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if in := o.Inspector; in == nil || time.Duration(in.TTL) != 15*time.Minute || in.FeedSize != 300 || in.Secret != "{env.INSPECTOR_SECRET}" {
		b, _ := json.Marshal(o)
		t.Fatalf("parsed %s", b)
	}
	o, err = parseOperator(t, "sessiontap_api /ops {\n\tkey k\n\tinspector\n}")
	if err != nil || o.Inspector == nil || *o.Inspector != (Inspector{}) {
		t.Fatalf("a bare inspector line: %+v, %v", o.API, err)
	}
}

func TestCaddyfileInspectorErrorsNameTheLine(t *testing.T) {
	cases := []struct{ input, want string }{
		{"sessiontap {\n\thistory lots\n}", `history: must be a number from 0 to 100, not "lots", at Testfile:2`},
		{"sessiontap {\n\thistory 101\n}", `history: must be a number from 0 to 100, not "101", at Testfile:2`},
	}
	for _, tc := range cases {
		_, err := parseHandler(t, tc.input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n\tgot  %v\n\twant %s", tc.input, err, tc.want)
		}
	}
	operatorCases := []struct{ input, want string }{
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\tttl soon\n\t}\n}", `inspector: ttl: `},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\tttl 10s\n\t}\n}", `inspector: ttl must be from 1m to 12h`},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\tfeed_size 0\n\t}\n}", `inspector: feed_size must be a positive number, not "0", at Testfile:4`},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\ttll 1h\n\t}\n}", `inspector: unrecognized option "tll", did you mean "ttl"?, at Testfile:4`},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector on\n}", `wrong argument count or unexpected line ending after 'on', at Testfile:3`},
	}
	for _, tc := range operatorCases {
		_, err := parseOperator(t, tc.input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n\tgot  %v\n\twant %s", tc.input, err, tc.want)
		}
		if err != nil && strings.HasPrefix(err.Error(), "api: ") {
			t.Errorf("%q: %v names the old api block", tc.input, err)
		}
	}
}

func TestValidateInspector(t *testing.T) {
	for _, tc := range []struct {
		in   Inspector
		want string
	}{
		{Inspector{TTL: caddy.Duration(time.Second)}, "ttl must be from 1m to 12h"},
		{Inspector{TTL: caddy.Duration(13 * time.Hour)}, "ttl must be from 1m to 12h"},
		{Inspector{FeedSize: 1 << 20}, "feed_size must be between 1 and 100000"},
	} {
		o := &OperatorHandler{API: API{Prefix: "/ops", Keys: []string{"k"}, Inspector: &tc.in}}
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
}

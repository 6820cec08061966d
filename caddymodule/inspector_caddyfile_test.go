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

func TestCaddyfileInspectorAndHistory(t *testing.T) {
	h, err := parseHandler(t, "sessiontap {\n\thistory 5\n\tapi /ops {\n\t\tkey k\n\t\tinspector {\n\t\t\tttl 15m\n\t\t\tfeed_size 300\n\t\t}\n\t}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if *h.History != 5 || h.API.Inspector == nil || time.Duration(h.API.Inspector.TTL) != 15*time.Minute || h.API.Inspector.FeedSize != 300 {
		b, _ := json.Marshal(h)
		t.Fatalf("parsed %s", b)
	}
	h, err = parseHandler(t, "sessiontap {\n\tapi /ops {\n\t\tkey k\n\t\tinspector\n\t}\n}")
	if err != nil || h.API.Inspector == nil || h.History != nil {
		t.Fatalf("a bare inspector line: %+v, %v", h.API, err)
	}
}

func TestCaddyfileInspectorErrorsNameTheLine(t *testing.T) {
	cases := []struct{ input, want string }{
		{"sessiontap {\n\thistory lots\n}", `history: must be a number from 0 to 100, not "lots", at Testfile:2`},
		{"sessiontap {\n\thistory 101\n}", `history: must be a number from 0 to 100, not "101", at Testfile:2`},
		{"sessiontap {\n\tapi /ops {\n\t\tkey k\n\t\tinspector {\n\t\t\tttl soon\n\t\t}\n\t}\n}", `api: inspector: ttl: `},
		{"sessiontap {\n\tapi /ops {\n\t\tkey k\n\t\tinspector {\n\t\t\tfeed_size 0\n\t\t}\n\t}\n}", `api: inspector: feed_size must be a positive number, not "0", at Testfile:5`},
		{"sessiontap {\n\tapi /ops {\n\t\tkey k\n\t\tinspector {\n\t\t\ttll 1h\n\t\t}\n\t}\n}", `api: inspector: unrecognized option "tll", did you mean "ttl"?, at Testfile:5`},
		{"sessiontap {\n\tapi /ops {\n\t\tkey k\n\t\tinspector on\n\t}\n}", `wrong argument count or unexpected line ending after 'on', at Testfile:4`},
	}
	for _, tc := range cases {
		_, err := parseHandler(t, tc.input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n\tgot  %v\n\twant %s", tc.input, err, tc.want)
		}
	}
}

func TestValidateInspector(t *testing.T) {
	n := 20
	for _, tc := range []struct {
		in   Inspector
		want string
	}{
		{Inspector{TTL: caddy.Duration(time.Second)}, "ttl must be from 1m to 12h"},
		{Inspector{TTL: caddy.Duration(13 * time.Hour)}, "ttl must be from 1m to 12h"},
		{Inspector{FeedSize: 1 << 20}, "feed_size must be between 1 and 100000"},
	} {
		h := &Handler{History: &n, API: &API{Prefix: "/ops", Keys: []string{"k"}, Inspector: &tc.in}}
		h.setDefaults()
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
}

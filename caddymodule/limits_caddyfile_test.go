package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestLimitsCaddyfile: every option of the limits block lands in its
// JSON field; off turns a limit off; unset ones are left to the defaults.
func TestLimitsCaddyfile(t *testing.T) {
	var h Handler
	input := "sessiontap {\n\tlimits {\n\t\tnew_sessions 5 per 10s burst 7\n\t\tcollect off\n\t\tclients 1000\n\t\tcollect_body 8KiB\n\t\tsession_size 32KiB\n\t}\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.Limits)
	want := `{"new_sessions":{"events":5,"per":10000000000,"burst":7},"collect":{"off":true},"clients":1000,"collect_body":8192,"session_size":32768}`
	if string(got) != want {
		t.Errorf("limits\n\t%s\nwant\n\t%s", got, want)
	}
	var d Handler
	if err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sessiontap {\n\tlimits {\n\t\tcollect 1 per 1h\n\t}\n}")); err != nil {
		t.Fatal(err)
	}
	l := d.limits()
	if l.NewSessions.Events != 20 || l.Collect.Events != 1 || l.Collect.Per != caddy.Duration(time.Hour) || l.Clients != defaultLimitClients {
		t.Errorf("defaults not kept beside a configured limit: %+v %+v %d", *l.NewSessions, *l.Collect, l.Clients)
	}
}

// TestLimitsCaddyfileErrors: each mistake is reported at its line, and an
// unknown option with a suggestion.
func TestLimitsCaddyfileErrors(t *testing.T) {
	block := func(line string) string { return "sessiontap {\n\thistory 5\n\tlimits {\n\t\t" + line + "\n\t}\n}" }
	cases := []struct{ input, want string }{
		{block("new_session 5 per 1m"), `limits: unrecognized option "new_session", did you mean "new_sessions"?, at Testfile:4`},
		{block("colect off"), `limits: unrecognized option "colect", did you mean "collect"?, at Testfile:4`},
		{block("new_sessions 5 every 1m"), `limits: new_sessions takes <events> per <duration> [burst <n>], or off, at Testfile:4`},
		{block("collect 5 per 1m burst"), `limits: collect takes <events> per <duration> [burst <n>], or off, at Testfile:4`},
		{block("collect 0 per 1m"), `limits: collect: "0" is not a positive number of events, at Testfile:4`},
		{block("collect 5 per soon"), `limits: collect: "soon" is not a positive duration, at Testfile:4`},
		{block("new_sessions 5 per 1m burst -1"), `limits: new_sessions: burst "-1" is not a positive number, at Testfile:4`},
		{block("clients lots"), `limits: clients must be a number from 1 to 10000000, not "lots", at Testfile:4`},
		{block("collect_body huge"), `limits: collect_body: "huge" is not a size such as 16KiB, at Testfile:4`},
		{block("session_size 1MiB"), `limits: session_size: 1MiB is over the most it can be, 500 KiB, at Testfile:4`},
		{block("session_size"), `wrong argument count or unexpected line ending after 'session_size', at Testfile:4`},
		{"sessiontap {\n\tlimits on {\n\t}\n}", `wrong argument count or unexpected line ending after 'on', at Testfile:2`},
	}
	for _, tc := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%q: error\n\t%v\nwant it to end in\n\t%s", tc.input, err, tc.want)
		}
	}
}

// TestLimitsValidate: JSON config gets the checks the Caddyfile's parser
// makes.
func TestLimitsValidate(t *testing.T) {
	cases := map[string]string{
		`{"collect":{"events":5}}`:            "limits: collect needs a positive number of events per a positive duration, and a burst not below 0",
		`{"new_sessions":{"per":1000000000}}`: "limits: new_sessions needs a positive number of events per a positive duration, and a burst not below 0",
		`{"session_size":1048576}`:            "limits: session_size must be positive and at most 512000 bytes",
		`{"clients":-1}`:                      "limits: clients must be between 1 and 10000000, not -1",
	}
	for in, want := range cases {
		h := Handler{Collect: "/c"}
		if err := json.Unmarshal([]byte(in), &h.Limits); err != nil {
			t.Fatal(err)
		}
		h.setDefaults()
		if err := h.Validate(); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
	}
}

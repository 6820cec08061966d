package strictjson

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		in, field, msg string
	}{
		{`{"cart":"x","cart":{}}`, "cart", "appears more than once"},
		{`{"cart":{"items":[{"name":"a","name":"b"}]}}`, "cart.items[0].name", "appears more than once"},
		{`{"a":1,"\u0061":2}`, "a", "appears more than once"},
		{"{\"name\":\"bad\xffbyte\"}", "name", "is not valid UTF-8"},
		{"{\"na\xc3me\":1}", "body", "is not valid UTF-8"},
		{`{"name":"\ud800"}`, "name", "is not valid UTF-8 (a lone surrogate)"},
		{`{"name":"\udc00\ud800"}`, "name", "is not valid UTF-8 (a lone surrogate)"},
		{`{"name":"\ud800\u0041"}`, "name", "is not valid UTF-8 (a lone surrogate)"},
		{`{"a":[1,2,}`, "body", "invalid JSON"},
		{`{"a":1} x`, "body", "invalid JSON"},
	}
	for _, tc := range cases {
		err := Check([]byte(tc.in))
		if err == nil || err.Field != tc.field || err.Msg != tc.msg {
			t.Errorf("Check(%q) = %v, want %s: %s", tc.in, err, tc.field, tc.msg)
		}
	}
	for _, ok := range []string{`{}`, `[]`, `{"a":{"a":{"a":[]}}}`, `{"e":"\ud83d\ude00 é \" \\ \/ \n"}`, `{"a":[{"b":1},{"b":2}]}`, `{"n":-1.5e3,"t":true,"f":null}`} {
		if err := Check([]byte(ok)); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
}

// A document Check accepts means the same to every parser: it decodes,
// and every string in it is the UTF-8 that was sent.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"b","a":"c"}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `[{"x":[1,{"y":"\u00e9"}]}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) != nil {
			return
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			// Check leaves numbers and literals to the decoder.
			return
		}
		out, err := json.Marshal(v)
		if err != nil || !utf8.Valid(out) {
			t.Fatalf("accepted %q re-encodes to %q, %v", b, out, err)
		}
		walk(t, b, v)
	})
}

// spellsReplacement reports whether in writes U+FFFD itself, raw or escaped.
func spellsReplacement(in []byte) bool {
	l := bytes.ToLower(in)
	return bytes.Contains(in, []byte("\uFFFD")) || bytes.Contains(l, []byte(`\ufffd`))
}

// walk fails when a decoded string holds U+FFFD that the input did not
// spell: the decoder replaced something Check should have refused.
func walk(t *testing.T, in []byte, v any) {
	switch v := v.(type) {
	case string:
		for _, r := range v {
			if r == utf8.RuneError && !spellsReplacement(in) {
				t.Fatalf("accepted %q decodes with U+FFFD", in)
			}
		}
	case []any:
		for _, e := range v {
			walk(t, in, e)
		}
	case map[string]any:
		for k, e := range v {
			walk(t, in, k)
			walk(t, in, e)
		}
	}
}

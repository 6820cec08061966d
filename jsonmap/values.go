package jsonmap

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Limits on what a captured document can make us store; the same as the
// collect endpoint's, so that both ways into a session agree.
const (
	MaxItems    = 1000
	maxQuantity = 1_000_000
	maxID       = 256
	maxText     = 1024
	maxEmail    = 320 // RFC 5321's limit on a forward path
)

// Every converter below takes a raw value (nil when missing) and reports
// ok=false for a value that must be dropped.

// text decodes a JSON string, trimmed. Empty results are ok: the caller
// decides whether empty means absent or bad.
func text(v []byte, limit int) (_ string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	var s string
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 {
		s = string(bytes.TrimSpace(inner))
	} else if s, ok = unquote(v); !ok {
		return "", false
	}
	s = strings.TrimSpace(s)
	// Values end up in stores, upstream requests and (ids) log lines.
	if len(s) > limit || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
		return "", false
	}
	return s, true
}

// unquote decodes a string with escapes; apart so that text's common case
// does not pay for the heap variable json.Unmarshal needs.
func unquote(v []byte) (string, bool) {
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

// id reads an identifier: shops write them as strings or as integers
// (Shopify's product_id 6788945887297). Integers keep their literal text.
func id(v []byte) (string, bool) {
	if len(v) > 0 && v[0] != '"' {
		if !isInteger(v, true) || len(v) > maxID {
			return "", false
		}
		return string(v), true
	}
	s, ok := text(v, maxID)
	return s, ok && s != ""
}

func isInteger(b []byte, signed bool) bool {
	if signed && len(b) > 1 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// numeric returns the text of a JSON number or of a numeric string
// ("12.50"); shops render numbers both ways.
func numeric(v []byte) ([]byte, bool) {
	if len(v) == 0 {
		return nil, false
	}
	if v[0] == '"' && len(v) >= 2 {
		// Digits need no escapes: a string with one is not a number.
		inner := v[1 : len(v)-1]
		return bytes.TrimSpace(inner), bytes.IndexByte(inner, '\\') < 0
	}
	return v, v[0] == '-' || (v[0] >= '0' && v[0] <= '9')
}

func quantity(v []byte) (int, bool) {
	t, ok := numeric(v)
	if !ok || !isInteger(t, false) || len(t) > 7 {
		return 0, false
	}
	n := 0
	for _, c := range t {
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= maxQuantity
}

// price converts exactly: minor units (divisor > 1) must be integers and go
// through DecimalFromMinor, major units through ParseDecimal of the literal.
// Never float64, which would turn 0.1 into 0.1000000000000000055.
func price(v []byte, divisor int64) (model.Decimal, bool) {
	t, ok := numeric(v)
	if !ok {
		return 0, false
	}
	var d model.Decimal
	var err error
	if divisor > 1 {
		minor, ok := minorUnits(t)
		if !ok {
			return 0, false
		}
		d, err = model.DecimalFromMinor(minor, divisor)
	} else {
		d, err = model.ParseDecimal(string(t))
	}
	return d, err == nil && d >= 0
}

func minorUnits(t []byte) (int64, bool) {
	neg := len(t) > 0 && t[0] == '-'
	if !isInteger(t, true) {
		return 0, false
	}
	if neg {
		t = t[1:]
	}
	if len(t) > 18 { // 18 digits cannot overflow an int64
		return 0, false
	}
	var n int64
	for _, c := range t {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// currency reads an ISO 4217 code; lower case ("eur") is accepted and
// upper-cased because it is unambiguous.
func currency(v []byte) (string, bool) {
	s, ok := text(v, 3)
	if !ok || len(s) != 3 {
		return "", false
	}
	for i := 0; i < 3; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return "", false
		}
	}
	return strings.ToUpper(s), true
}

func email(v []byte) (string, bool) {
	s, ok := text(v, maxEmail)
	return s, ok && strings.Contains(s, "@") && !strings.ContainsAny(s, " \t")
}

func name(v []byte) (string, bool) { return text(v, maxText) }

// boolean accepts JSON booleans and their string forms.
func boolean(v []byte) (bool, bool) {
	switch string(v) {
	case "true", `"true"`:
		return true, true
	case "false", `"false"`:
		return false, true
	}
	return false, false
}

package jsonmap

import (
	"bytes"
	"encoding/json"

	"github.com/sessiontap/caddy-sessiontap/internal/strictjson"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// MaxItems bounds the lines read from one document: what a cart may hold.
const MaxItems = model.MaxCartItems

// Every converter below takes a raw value (nil when missing) and reports
// ok=false for a value that must be dropped. Strings are cleaned by the
// model's value rules, as collect and page tagging clean them.

// str decodes a JSON string, refusing bytes that are not UTF-8 and
// escaped lone surrogates, which a decoder would turn into U+FFFD.
func str(v []byte) (_ string, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true // the value rules check the bytes
	}
	if strictjson.Check(v) != nil {
		return "", false
	}
	return unquote(v)
}

// rule applies a value rule to a JSON string.
func rule(v []byte, clean func(string) (string, error)) (string, bool) {
	s, ok := str(v)
	if !ok {
		return "", false
	}
	s, err := clean(s)
	return s, err == nil
}

// unquote decodes a string with escapes; apart so that str's common case
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
		if !isInteger(v, true) || len(v) > model.MaxIDLength {
			return "", false
		}
		return string(v), true
	}
	s, ok := rule(v, model.ID)
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

// quantity reads a whole quantity from a number or a numeric string;
// 2.0 is 2, as everywhere.
func quantity(v []byte) (int, bool) {
	t, ok := numeric(v)
	if !ok || len(t) > 32 {
		return 0, false
	}
	n, err := model.Quantity(string(t))
	return n, err == nil
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

// currency reads an ISO 4217 code, upper-cased by the value rules.
func currency(v []byte) (string, bool) { return rule(v, model.Currency) }

func email(v []byte) (string, bool) {
	s, ok := rule(v, model.Email)
	return s, ok && s != ""
}

func name(v []byte) (string, bool) { return rule(v, model.Text) }

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

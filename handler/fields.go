package handler

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// fields decodes the values of one JSON object, keeping the first error so
// that callers can read every field and check once.
type fields struct {
	at  string
	err *fieldError
}

func (f *fields) fail(name, msg string) {
	if f.err == nil {
		f.err = badField(f.at+"."+name, msg)
	}
}

func (f *fields) str(raw json.RawMessage, name string, limit int, required bool) string {
	if isNull(raw) {
		if required {
			f.fail(name, "is required")
		}
		return ""
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		f.fail(name, "must be a string")
		return ""
	}
	s = strings.TrimSpace(s)
	switch {
	case len(s) > limit:
		f.fail(name, "longer than "+strconv.Itoa(limit)+" bytes")
	case required && s == "":
		f.fail(name, "must not be empty")
	case !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n"):
		f.fail(name, "contains characters that are not allowed")
	}
	return s
}

func (f *fields) quantity(raw json.RawMessage) int {
	if isNull(raw) {
		f.fail("quantity", "is required")
		return 0
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 1 || n > maxQuantity {
		f.fail("quantity", "must be a positive integer up to "+strconv.Itoa(maxQuantity))
		return 0
	}
	return n
}

func (f *fields) price(raw json.RawMessage, name string) model.Decimal {
	if isNull(raw) {
		f.fail(name, "is required")
		return 0
	}
	if raw[0] == '"' {
		f.fail(name, "must be a number")
		return 0
	}
	d, err := model.ParseDecimal(string(raw))
	if err != nil {
		f.fail(name, "must be a number with a dot decimal and at most 6 decimals")
		return 0
	}
	if d < 0 {
		f.fail(name, "must not be negative")
		return 0
	}
	return d
}

func (f *fields) currency(raw json.RawMessage) string {
	s := f.str(raw, "price_currency_code", 3, false)
	if s == "" {
		return ""
	}
	if len(s) != 3 || strings.ToUpper(s) != s || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		f.fail("price_currency_code", "must be an ISO 4217 code such as EUR")
	}
	return s
}

func (f *fields) email(raw json.RawMessage) string {
	s := f.str(raw, "email", maxEmailField, false)
	if s != "" && (!strings.Contains(s, "@") || strings.ContainsAny(s, " \t")) {
		f.fail("email", "not an email address")
	}
	return s
}

func (f *fields) boolean(raw json.RawMessage, name string) bool {
	switch string(raw) {
	case "", "null", "false":
		return false
	case "true":
		return true
	}
	f.fail(name, "must be true or false")
	return false
}

package handler

import (
	"encoding/json"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// fields decodes the values of one JSON object, keeping the first error so
// that callers can read every field and check once. The values are cleaned
// by the model's value rules, as capture cleans them.
type fields struct {
	at  string
	err *fieldError
}

func (f *fields) fail(name, msg string) {
	if f.err == nil {
		f.err = badField(f.at+"."+name, msg)
	}
}

// check records err, a refusal by a value rule, against name.
func (f *fields) check(name string, err error) {
	if err != nil {
		f.fail(name, err.Error())
	}
}

// rawString decodes a JSON string, or reports why raw is not one.
func (f *fields) rawString(raw json.RawMessage, name string) (string, bool) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		f.fail(name, "must be a string")
		return "", false
	}
	return s, true
}

// value decodes the string field name and cleans it with rule; required
// fields must be present and not empty after cleaning.
func (f *fields) value(raw json.RawMessage, name string, required bool, rule func(string) (string, error)) string {
	if isNull(raw) {
		if required {
			f.fail(name, "is required")
		}
		return ""
	}
	s, ok := f.rawString(raw, name)
	if !ok {
		return ""
	}
	s, err := rule(s)
	f.check(name, err)
	if err == nil && required && s == "" {
		f.fail(name, "must not be empty")
	}
	return s
}

func (f *fields) id(raw json.RawMessage, name string, required bool) string {
	return f.value(raw, name, required, model.ID)
}

func (f *fields) text(raw json.RawMessage, name string) string {
	return f.value(raw, name, false, model.Text)
}

func (f *fields) email(raw json.RawMessage) string {
	return f.value(raw, "email", false, model.Email)
}

func (f *fields) currency(raw json.RawMessage) string {
	return f.value(raw, "price_currency_code", false, model.Currency)
}

// quantity takes a JSON number: 2 and 2.0 are the same number.
func (f *fields) quantity(raw json.RawMessage) int {
	if isNull(raw) {
		f.fail("quantity", "is required")
		return 0
	}
	if raw[0] == '"' {
		f.fail("quantity", "must be a number")
		return 0
	}
	n, err := model.Quantity(string(raw))
	f.check("quantity", err)
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
	d, err := model.Price(string(raw))
	f.check(name, err)
	return d
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

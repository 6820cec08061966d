package handler

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// FuzzCollect: whatever a visitor posts, collect answers valid UTF-8 JSON,
// and what it stores holds only text the value rules allow: valid UTF-8,
// no control characters, no U+FFFD the body did not spell.
func FuzzCollect(f *testing.F) {
	for _, s := range []string{twoItems, `{"cart":"x","cart":{}}`, `{"customer":{"email":"a\ud800@b"}}`,
		"{\"cart\":{\"items\":[{\"product_id\":\"p\\t1\",\"name\":\"a\xffb\",\"quantity\":2.0,\"unit_price\":1}]}}",
		`{"cart":{"items":[{"product_id":"p","name":"Caf\u00e9\r\n x","quantity":1,"unit_price":1,"price_currency_code":"eur"}]}}`} {
		f.Add([]byte(s))
	}
	h, store := newTestHandler(f, testConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		v := newVisitor(t, h)
		w := v.post(string(body))
		if !utf8.Valid(w.Body.Bytes()) || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%d answer is not valid UTF-8 JSON: %q", w.Code, w.Body.Bytes())
		}
		if w.Code != http.StatusOK {
			return
		}
		id, _, _ := model.ParseCookieValue(v.cookie.Value)
		s, err := store.Get(context.Background(), id)
		if err != nil {
			return // a body that changed nothing stores nothing
		}
		spelled := strings.Contains(string(body), "\uFFFD") || strings.Contains(strings.ToLower(string(body)), `\ufffd`)
		walkStrings(reflect.ValueOf(s).Elem(), func(field, v string) {
			if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
				return r < ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r == utf8.RuneError && !spelled)
			}) {
				t.Fatalf("stored %s = %q from %q", field, v, body)
			}
		})
	})
}

// walkStrings calls fn with every string field of v, recursively.
func walkStrings(v reflect.Value, fn func(field, v string)) {
	switch v.Kind() {
	case reflect.String:
		fn(v.Type().Name(), v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walkStrings(v.Field(i), fn)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw JSON (effects, attributes) is not text of ours
		}
		for i := range v.Len() {
			walkStrings(v.Index(i), fn)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walkStrings(v.Elem(), fn)
		}
	}
}

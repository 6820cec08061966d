package model

import (
	"errors"
	"strings"
	"testing"
)

func TestValueRules(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	cases := []struct {
		rule string
		fn   func(string) (string, error)
		in   string
		want string
		err  error
	}{
		{"text", Text, "  Men's\tRunning \n Shirt ", "Men's Running Shirt", nil},
		{"text", Text, "a\u00a0\u00a0b", "a b", nil},
		{"text", Text, "nul\x00", "", ErrControl},
		{"text", Text, "bell\x07", "", ErrControl},
		{"text", Text, "c1\u0085", "", ErrControl},
		{"text", Text, "bad\xffutf8", "", ErrNotUTF8},
		{"text", Text, long, strings.Repeat("é", 512), nil},
		{"id", ID, " SKU 12 ", "SKU 12", nil},
		{"id", ID, "SKU\t12", "", ErrControl},
		{"id", ID, strings.Repeat("x", MaxIDLength+1), "", ErrIDTooLong},
		{"id", ID, "  ", "", nil},
		{"email", Email, " jane@example.com ", "jane@example.com", nil},
		{"email", Email, "jane\t@example.com", "", ErrEmail},
		{"email", Email, "jane doe@example.com", "", ErrEmail},
		{"email", Email, "jane.example.com", "", ErrEmail},
		{"email", Email, strings.Repeat("a", 320) + "@b", "", ErrEmailTooLong},
		{"currency", Currency, "eur", "EUR", nil},
		{"currency", Currency, " EUR ", "EUR", nil},
		{"currency", Currency, "EU", "", ErrCurrency},
		{"currency", Currency, "€UR", "", ErrCurrency},
		{"currency", Currency, "", "", nil},
	}
	for _, tc := range cases {
		got, err := tc.fn(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s(%q) = %q, %v; want %q, %v", tc.rule, tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrValue) {
			t.Errorf("%s(%q): %v does not wrap ErrValue", tc.rule, tc.in, err)
		}
	}
}

func TestQuantityAndPriceRules(t *testing.T) {
	for in, want := range map[string]int{"2": 2, " 2 ": 2, "2.0000": 2, "1000000": MaxQuantity} {
		if got, err := Quantity(in); err != nil || got != want {
			t.Errorf("Quantity(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "-1", "2.5", "1000001", "two", ""} {
		if _, err := Quantity(in); !errors.Is(err, ErrQuantity) {
			t.Errorf("Quantity(%q) = %v, want ErrQuantity", in, err)
		}
	}
	if d, err := Price("12.50"); err != nil || d.String() != "12.5" {
		t.Errorf("Price(12.50) = %v, %v", d, err)
	}
	for in, want := range map[string]error{"-1": ErrNegative, "12,50": ErrPrice, "€12": ErrPrice, "1.0000001": ErrPrice} {
		if _, err := Price(in); !errors.Is(err, want) {
			t.Errorf("Price(%q) = %v, want %v", in, err, want)
		}
	}
}

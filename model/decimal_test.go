package model

import (
	"encoding/json"
	"math"
	"testing"
)

func TestDecimalParse(t *testing.T) {
	for in, want := range map[string]Decimal{
		"123.45":   123_450_000,
		"0.5":      500_000,
		"-3":       -3_000_000,
		"7":        7_000_000,
		"0.000001": 1,
		"+2.25":    2_250_000,
		"-0":       0,
	} {
		got, err := ParseDecimal(in)
		if err != nil || got != want {
			t.Errorf("ParseDecimal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestDecimalParseErrors(t *testing.T) {
	// ".5" is refused: it is not a JSON number, and no shop we know of
	// renders prices that way, so accepting it would only widen the input.
	for _, in := range []string{
		"1e3", "1,5", "1.", "", ".5", "1.1234567", "abc", "--1",
		"-", "+", ".", "1.2.3", " 1", "1 ", "0x10", "-.5",
		"99999999999999999999", "9223372036855",
	} {
		if got, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) = %d, want an error", in, got)
		}
	}
}

func TestDecimalStringRoundTrip(t *testing.T) {
	for _, s := range []string{
		"123.45", "0.5", "-3", "7", "0.000001", "-0.5", "0",
		"9223372036854.775807", "1.000001", "100",
	} {
		d, err := ParseDecimal(s)
		if err != nil {
			t.Fatalf("ParseDecimal(%q): %v", s, err)
		}
		if got := d.String(); got != s {
			t.Errorf("ParseDecimal(%q).String() = %q", s, got)
		}
	}
	if got := Decimal(math.MinInt64).String(); got != "-9223372036854.775808" {
		t.Errorf("MinInt64 formats as %q", got)
	}
}

func TestDecimalUnmarshalJSON(t *testing.T) {
	var v struct {
		A Decimal `json:"a"`
		B Decimal `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"a": 123.45, "b": "0.10"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 123_450_000 || v.B != 100_000 {
		t.Errorf("got %d, %d", v.A, v.B)
	}
	for _, bad := range []string{`{"a": 1e3}`, `{"a": "1,5"}`, `{"a": "x"}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestDecimalMarshalJSON(t *testing.T) {
	b, err := json.Marshal(struct{ P Decimal }{P: 123_450_000})
	if err != nil || string(b) != `{"P":123.45}` {
		t.Errorf("got %s, %v", b, err)
	}
}

func TestDecimalFromMinor(t *testing.T) {
	if d, err := DecimalFromMinor(12345, 100); err != nil || d.String() != "123.45" {
		t.Errorf("DecimalFromMinor(12345, 100) = %v, %v", d, err)
	}
	if d, err := DecimalFromMinor(-7, 1); err != nil || d != -7*DecimalScale {
		t.Errorf("DecimalFromMinor(-7, 1) = %v, %v", d, err)
	}
	for _, div := range []int64{0, -100, 3, 10_000_000} {
		if _, err := DecimalFromMinor(1, div); err == nil {
			t.Errorf("divisor %d accepted", div)
		}
	}
	if _, err := DecimalFromMinor(math.MaxInt64, 1); err == nil {
		t.Error("overflow accepted")
	}
}

func TestDecimalMul(t *testing.T) {
	for _, c := range []struct {
		d    Decimal
		n    int
		want Decimal
	}{
		{1_500_000, 3, 4_500_000},
		{1_500_000, -2, -3_000_000},
		{1_500_000, 0, 0},
		{0, math.MaxInt, 0},
		{math.MaxInt64 / 2, 3, math.MaxInt64},
		{math.MaxInt64 / 2, -3, math.MinInt64},
		{math.MinInt64 / 2, 3, math.MinInt64},
		{math.MinInt64 / 2, -3, math.MaxInt64},
		{math.MinInt64, -1, math.MaxInt64},
		{-1, math.MinInt, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
	} {
		if got := c.d.Mul(c.n); got != c.want {
			t.Errorf("%d.Mul(%d) = %d, want %d", c.d, c.n, got, c.want)
		}
	}
}

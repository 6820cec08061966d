package model

import (
	"errors"
	"math"
	"strconv"
)

// Decimal is an exact decimal amount (a price) with up to six fractional
// digits, stored as millionths. Prices pass through sessiontap to promotion
// engines: binary floats would turn 0.1+0.2 into 0.30000000000000004 there.
type Decimal int64

// DecimalScale is how many units of a Decimal make one.
const DecimalScale = 1_000_000

const decimalDigits = 6

var (
	errDecimalSyntax = errors.New("not a decimal number with a dot and at most 6 decimals")
	errDecimalRange  = errors.New("out of range")
)

// ParseDecimal reads a plain decimal such as "123.45", "-3" or "0.5".
// Exponents, commas and more than six decimals are refused rather than
// rounded, so that what we forward is what the shop wrote.
func ParseDecimal(s string) (Decimal, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			break
		}
	}
	if intPart == "" || len(frac) > decimalDigits || (len(frac) == 0 && len(intPart) < len(s)) {
		return 0, errDecimalSyntax
	}
	whole, err := parseDigits(intPart)
	if err != nil {
		return 0, err
	}
	fraction, err := parseDigits(frac)
	if err != nil {
		return 0, err
	}
	for i := len(frac); i < decimalDigits; i++ {
		fraction *= 10
	}
	if whole > (math.MaxInt64-fraction)/DecimalScale {
		return 0, errDecimalRange
	}
	d := Decimal(whole*DecimalScale + fraction)
	if neg {
		d = -d
	}
	return d, nil
}

func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errDecimalSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errDecimalRange
	}
	return n, nil
}

// DecimalFromMinor converts an amount in minor units (cents) with the given
// divisor (100 for cents) into a Decimal, exactly.
func DecimalFromMinor(minor int64, divisor int64) (Decimal, error) {
	if divisor <= 0 || DecimalScale%divisor != 0 {
		return 0, errors.New("divisor must be a power of ten up to 1000000")
	}
	factor := DecimalScale / divisor
	if minor > math.MaxInt64/factor || minor < math.MinInt64/factor {
		return 0, errDecimalRange
	}
	return Decimal(minor * factor), nil
}

// String formats d with as few decimals as it needs: "123.45", "3", "-0.5".
func (d Decimal) String() string {
	return string(d.AppendText(nil))
}

// AppendText appends the text form of d to b.
func (d Decimal) AppendText(b []byte) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = uint64(-d)
	}
	b = strconv.AppendUint(b, u/DecimalScale, 10)
	frac := u % DecimalScale
	if frac == 0 {
		return b
	}
	var digits [decimalDigits]byte
	for i := decimalDigits - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := decimalDigits
	for digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

// MarshalJSON writes d as a JSON number, never in exponent form.
func (d Decimal) MarshalJSON() ([]byte, error) { return d.AppendText(nil), nil }

// UnmarshalJSON reads a JSON number (or a numeric string, as some shops
// render prices) exactly.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Float64 is d as a float, for upstream APIs that want a JSON number and
// for arithmetic where exactness no longer matters (ratios, metrics).
func (d Decimal) Float64() float64 { return float64(d) / DecimalScale }

// Mul multiplies d by an integer quantity, saturating instead of wrapping.
func (d Decimal) Mul(n int) Decimal {
	if n == 0 || d == 0 {
		return 0
	}
	r := int64(d) * int64(n)
	// MinInt64 * -1 wraps to itself, which the division check cannot see.
	if r/int64(n) != int64(d) || (d == math.MinInt64 && n == -1) {
		if (d < 0) != (n < 0) {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return Decimal(r)
}

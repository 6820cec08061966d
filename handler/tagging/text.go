package tagging

import (
	"bytes"
	"unicode/utf8"

	sessiontap "github.com/sessiontap/caddy-sessiontap"
)

// collapse appends s to dst with runs of whitespace made one space and the
// ends trimmed, as a visitor reads the text. A no-break space counts as
// whitespace: "12.00&nbsp;" is still a price. NUL bytes are dropped.
func collapse(dst, s []byte) []byte {
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSpace[c]:
			space = true
			continue
		case c == 0xc2 && i+1 < len(s) && s[i+1] == 0xa0:
			space = true
			i++
			continue
		case c == 0:
			continue
		}
		if space && len(dst) > 0 {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
	}
	return dst
}

// cutUTF8 shortens s to at most n bytes without splitting a character.
func cutUTF8[T string | []byte](s T, n int) T {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	for n > 0 && s[n-1] == ' ' {
		n--
	}
	return s[:n]
}

func validUTF8(v []byte) []byte {
	if utf8.Valid(v) {
		return v
	}
	return bytes.ToValidUTF8(v, []byte("\uFFFD"))
}

// textValue is free text: cut, never refused.
func textValue(v []byte) string {
	return string(cutUTF8(validUTF8(v), maxText))
}

// idValue is an id: refused when too long, since a cut id names something
// else. Empty means absent.
func idValue(v []byte) (string, bool) {
	if len(v) > maxID {
		return "", false
	}
	return string(validUTF8(v)), true
}

func emailValue(v []byte) (string, bool) {
	if len(v) > maxEmail || len(v) > 0 && (bytes.IndexByte(v, '@') < 0 || bytes.IndexByte(v, ' ') >= 0) {
		return "", false
	}
	return string(validUTF8(v)), true
}

// priceValue reads a non-negative dot-decimal price. Currency symbols,
// thousands separators and decimal commas are refused, not guessed at.
func priceValue(s string) (sessiontap.Decimal, bool) {
	d, err := sessiontap.ParseDecimal(s)
	return d, err == nil && d >= 0
}

// quantityValue reads a positive whole quantity. "2.0000" is accepted:
// Magento renders quantities as decimals.
func quantityValue(s string) (int, bool) {
	d, err := sessiontap.ParseDecimal(s)
	if err != nil || d <= 0 || d%sessiontap.DecimalScale != 0 || d/sessiontap.DecimalScale > maxQuantity {
		return 0, false
	}
	return int(d / sessiontap.DecimalScale), true
}

// currencyValue reports whether v is an ISO 4217 code such as EUR.
func currencyValue[T string | []byte](v T) bool {
	if len(v) != 3 {
		return false
	}
	for i := range 3 {
		if v[i] < 'A' || v[i] > 'Z' {
			return false
		}
	}
	return true
}

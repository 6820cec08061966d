package tagging

import (
	"bytes"
	"html"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
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
func priceValue(s string) (model.Decimal, bool) {
	d, err := model.ParseDecimal(s)
	return d, err == nil && d >= 0
}

// quantityValue reads a positive whole quantity. "2.0000" is accepted:
// Magento renders quantities as decimals.
func quantityValue(s string) (int, bool) {
	d, err := model.ParseDecimal(s)
	if err != nil || d <= 0 || d%model.DecimalScale != 0 || d/model.DecimalScale > maxQuantity {
		return 0, false
	}
	return int(d / model.DecimalScale), true
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

// appendUnescaped appends b to dst with its character references decoded,
// exactly as html.UnescapeString(string(b)) would. The references shops use
// most are decoded here without allocating; from the first other one on,
// the rest goes to html.UnescapeString. A reference is decoded from its '&'
// without looking behind it, so the two halves decode as the whole would.
func appendUnescaped(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i:]
		n := 0
		switch {
		case bytes.HasPrefix(b, entAmp):
			dst, n = append(dst, '&'), len(entAmp)
		case bytes.HasPrefix(b, entNbsp):
			dst, n = append(dst, 0xc2, 0xa0), len(entNbsp)
		case bytes.HasPrefix(b, entQuot):
			dst, n = append(dst, '"'), len(entQuot)
		case bytes.HasPrefix(b, entLt):
			dst, n = append(dst, '<'), len(entLt)
		case bytes.HasPrefix(b, entGt):
			dst, n = append(dst, '>'), len(entGt)
		case len(b) > 2 && b[1] == '#':
			// "&#39;": decimal, one to three digits, printable ASCII.
			x, j := 0, 2
			for ; j < len(b) && j < 5 && '0' <= b[j] && b[j] <= '9'; j++ {
				x = 10*x + int(b[j]-'0')
			}
			if j > 2 && j < len(b) && b[j] == ';' && ' ' <= x && x <= '~' {
				dst, n = append(dst, byte(x)), j+1
			}
		}
		if n == 0 {
			return append(dst, html.UnescapeString(string(b))...)
		}
		b = b[n:]
	}
}

var (
	entAmp  = []byte("&amp;")
	entNbsp = []byte("&nbsp;")
	entQuot = []byte("&quot;")
	entLt   = []byte("&lt;")
	entGt   = []byte("&gt;")
)

// currencies are common codes, to keep them without allocating.
var currencies = []string{"EUR", "USD", "GBP", "SEK", "NOK", "DKK", "CHF", "PLN", "CZK", "HUF", "JPY", "CAD", "AUD", "NZD"}

// keepCode returns v as a string, shared for the common currency codes.
func keepCode(v []byte) string {
	for _, c := range currencies {
		if string(v) == c {
			return c
		}
	}
	return string(v)
}

// pageTypes are the known page types, to keep them without allocating.
var pageTypes = []model.PageType{
	model.PageFront, model.PageCategory, model.PageProduct, model.PageCart,
	model.PageSearch, model.PageNotFound, model.PageOrder, model.PageOther,
	model.PageCheckout,
}

// pageType is model.PageType(v), shared for the known types.
func pageType(v []byte) model.PageType {
	for _, t := range pageTypes {
		if string(v) == string(t) {
			return t
		}
	}
	return model.PageType(v)
}

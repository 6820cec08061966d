package tagging

import (
	"bytes"
	"errors"
	"html"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// The values of tagging are cleaned by the model's value rules, as collect
// and captured cart JSON are: each field gets its text entity-decoded but
// otherwise as written, and the rules trim it, collapse the whitespace of
// free text, and refuse control characters, bytes that are not UTF-8 and
// whitespace inside ids.

// trim cuts HTML whitespace and no-break spaces from both ends of v.
func trim(v []byte) []byte {
	for len(v) > 0 && isSpace[v[0]] {
		v = v[1:]
	}
	for len(v) > 1 && v[0] == 0xc2 && v[1] == 0xa0 {
		v = trim(v[2:])
	}
	for len(v) > 0 && isSpace[v[len(v)-1]] {
		v = v[:len(v)-1]
	}
	for len(v) > 1 && v[len(v)-2] == 0xc2 && v[len(v)-1] == 0xa0 {
		v = trim(v[:len(v)-2])
	}
	return v
}

// textValue is free text, cut at model.MaxTextLength by the rules. What is
// kept of a longer text is bounded first, so that a huge field is not
// copied whole only to be cut.
func textValue(v []byte) (string, bool) {
	v = trim(v)
	if len(v) > 4*maxText {
		v = v[:4*maxText]
		for len(v) > 0 && !utf8.RuneStart(v[len(v)-1]) {
			v = v[:len(v)-1]
		}
		if len(v) > 0 {
			v = v[:len(v)-1] // the last rune may be cut: drop it
		}
	}
	s, err := model.Text(string(v))
	return s, err == nil
}

// idValue is an id: refused when too long, since a cut id names something
// else. Empty means absent.
func idValue(v []byte) (string, bool) {
	v = trim(v)
	if len(v) > maxID {
		return "", false
	}
	s, err := model.ID(string(v))
	return s, err == nil
}

func emailValue(v []byte) (string, bool) {
	v = trim(v)
	if len(v) > maxEmail {
		return "", false
	}
	s, err := model.Email(string(v))
	return s, err == nil
}

// linkValue is a URL (a cart's restore link): an id in all but its
// length, which is that of free text.
func linkValue(v []byte) (string, bool) {
	v = trim(v)
	if len(v) > maxText {
		return "", false
	}
	s := string(v)
	_, err := model.ID(s)
	return s, err == nil || errors.Is(err, model.ErrIDTooLong)
}

// priceValue reads a non-negative dot-decimal price. Currency symbols,
// thousands separators and decimal commas are refused, not guessed at.
func priceValue(v []byte) (model.Decimal, bool) {
	d, err := model.Price(string(trim(v)))
	return d, err == nil
}

// quantityValue reads a positive whole quantity. "2.0000" is accepted:
// Magento renders quantities as decimals.
func quantityValue(v []byte) (int, bool) {
	n, err := model.Quantity(string(trim(v)))
	return n, err == nil
}

// currencyValue reads an ISO 4217 code, upper-cased; "" is absent.
func currencyValue(v []byte) (string, bool) {
	s, err := model.Currency(keepCode(trim(v)))
	return s, err == nil
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

package model

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The value rules. Every way into a session — the collect endpoint, page
// tagging, cart JSON and the session-context API — cleans and checks the
// values it stores with these functions, so that one value is stored the
// same way, or refused, whichever way it came. Collect answers a refusal
// with 400 naming the field; capture drops the field and counts it.
//
// Decided on purpose:
//   - Whitespace (space, tab, CR, LF, VT, FF, no-break space) at the ends
//     of a value is trimmed everywhere. Inside free text a run of it is one
//     space: a tab in a product name is layout, not content. Inside an id
//     or an email anything but a plain space is refused.
//   - Other control characters (NUL, C0, DEL, C1) and bytes that are not
//     UTF-8 are refused in every value: they end up in stores, headers,
//     upstream requests and log lines.
//   - Free text longer than MaxTextLength is cut at a character boundary
//     (a long name is still that name); an id longer than MaxIDLength is
//     refused, since a cut id names something else.
//   - A currency is three ASCII letters in any case and is stored upper
//     case: "eur" is unambiguous.
//   - A quantity is a whole number from 1 to MaxQuantity; "2.0000" is 2
//     (Magento renders quantities as decimals).
//   - A price is a non-negative dot decimal with at most six decimals.

// Limits on what any source can make us store.
const (
	MaxQuantity    = 1_000_000
	MaxTextLength  = 1024 // names, categories, search terms: cut
	MaxEmailLength = 320  // RFC 5321's limit on a forward path
	// Ids of products, SKUs, customers and orders share the session id's
	// bound, MaxIDLength.
)

// ErrValue is what every refusal by the value rules wraps. The messages
// name the rule, never the value: it may be personal data.
var ErrValue = errors.New("invalid value")

type valueError string

func (e valueError) Error() string { return string(e) }
func (e valueError) Unwrap() error { return ErrValue }

// The refusals of the value rules.
var (
	ErrNotUTF8      error = valueError("is not valid UTF-8")
	ErrControl      error = valueError("contains characters that are not allowed")
	ErrIDTooLong    error = valueError("longer than " + strconv.Itoa(MaxIDLength) + " bytes")
	ErrEmail        error = valueError("not an email address")
	ErrCurrency     error = valueError("must be an ISO 4217 code such as EUR")
	ErrQuantity     error = valueError("must be a whole number from 1 to " + strconv.Itoa(MaxQuantity))
	ErrPrice        error = valueError("must be a number with a dot decimal and at most 6 decimals")
	ErrNegative     error = valueError("must not be negative")
	ErrEmailTooLong error = valueError("longer than " + strconv.Itoa(MaxEmailLength) + " bytes")
)

// Text cleans free text: names, categories, search terms, customer groups.
func Text(s string) (string, error) {
	s, inner, err := clean(s)
	if err != nil {
		return "", err
	}
	if inner {
		s = collapseSpace(s)
	}
	return cut(s, MaxTextLength), nil
}

// ID cleans an identifier: a product, SKU, order number or customer
// reference. "" means absent; whether that is allowed is the caller's rule.
func ID(s string) (string, error) {
	s, inner, err := clean(s)
	switch {
	case err != nil:
		return "", err
	case inner && strings.ContainsFunc(s, isLayout):
		return "", ErrControl
	case len(s) > MaxIDLength:
		return "", ErrIDTooLong
	}
	return s, nil
}

// Email cleans an email address: no whitespace inside, an '@'. "" means
// absent.
func Email(s string) (string, error) {
	s, inner, err := clean(s)
	switch {
	case err != nil:
		return "", err
	case s == "":
		return "", nil
	case inner || strings.IndexByte(s, ' ') >= 0 || !strings.Contains(s, "@"):
		return "", ErrEmail
	case len(s) > MaxEmailLength:
		return "", ErrEmailTooLong
	}
	return s, nil
}

// Currency cleans an ISO 4217 code to upper case. "" means absent.
func Currency(s string) (string, error) {
	s, _, err := clean(s)
	if err != nil || s == "" {
		return "", err
	}
	if len(s) != 3 {
		return "", ErrCurrency
	}
	upper := true
	for i := range 3 {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			upper = false
		default:
			return "", ErrCurrency
		}
	}
	if !upper {
		s = strings.ToUpper(s)
	}
	return s, nil
}

// Quantity reads a quantity from its decimal text ("2", "2.0000").
func Quantity(s string) (int, error) {
	d, err := ParseDecimal(strings.TrimSpace(s))
	if err != nil || d <= 0 || d%DecimalScale != 0 || d/DecimalScale > MaxQuantity {
		return 0, ErrQuantity
	}
	return int(d / DecimalScale), nil
}

// Price reads a price from its dot-decimal text. Currency symbols,
// thousands separators and decimal commas are refused, not guessed at.
func Price(s string) (Decimal, error) {
	d, err := ParseDecimal(strings.TrimSpace(s))
	if err != nil {
		return 0, ErrPrice
	}
	if d < 0 {
		return 0, ErrNegative
	}
	return d, nil
}

// clean trims whitespace and checks s for bytes no value may hold. inner
// reports whitespace other than a plain space left inside, or a run of
// spaces, which free text collapses and ids refuse.
func clean(s string) (_ string, inner bool, _ error) {
	s = trimSpace(s)
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ':
				inner = inner || space
				space = true
			case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
				inner, space = true, true
			case c < ' ' || c == 0x7f:
				return "", false, ErrControl
			default:
				space = false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return "", false, ErrNotUTF8
		case r == '\u00a0':
			inner, space = true, true
		case r >= 0x80 && r <= 0x9f:
			return "", false, ErrControl
		default:
			space = false
		}
		i += n
	}
	return s, inner, nil
}

// isLayout is whitespace other than a plain space.
func isLayout(r rune) bool {
	return r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == '\u00a0'
}

func isSpace(r rune) bool { return r == ' ' || isLayout(r) }

func trimSpace(s string) string {
	// The common case, nothing to trim, without a function call per end.
	if s == "" || (s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf) {
		return s
	}
	return strings.TrimFunc(s, isSpace)
}

// collapseSpace makes each run of whitespace in s one space.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut shortens s to at most n bytes without splitting a character, and
// without leaving a space at the end.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " ")
}

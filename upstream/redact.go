package upstream

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// redactWindow is how much of an answer is redacted before the snippet is
// cut from it: far more than MaxSnippet, since white space collapses, and
// bounded, since an error page can be large. Redaction comes first, so
// that no cut can split a value and leave a prefix behind unrecognised.
const redactWindow = 64 << 10

// Snippet returns the start of an upstream's answer for a log line. The
// personal values given (an upstream may echo them back in an error), in
// every form an upstream may echo them — as sent, case-folded,
// JSON-escaped, percent-encoded — are blanked as "[redacted]", and so is a
// prefix of one where the answer breaks off; values under three characters
// are left alone, blanking them would garble the rest. Then invalid UTF-8
// is replaced, control characters and runs of white space become one
// space, and the result is cut at MaxSnippet bytes on a character boundary.
func Snippet(body []byte, personal ...string) string {
	s := strings.ToValidUTF8(string(body[:min(len(body), redactWindow)]), "\uFFFD")
	s = redact(s, personal)
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if b.Len()+utf8.RuneLen(r) > MaxSnippet {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

const redacted = "[redacted]"

// redact blanks each personal value in s in any of its echo forms (see
// echoPattern), case-insensitively and as a whole word where it starts or
// ends with one (so a last name "Doe" does not blank "does"), then a
// prefix of a value that s ends with.
func redact(s string, personal []string) string {
	var values []string
	for _, v := range personal {
		if utf8.RuneCountInString(v) >= 3 {
			values = append(values, v)
		}
	}
	for _, v := range values {
		s = echoPattern(v).ReplaceAllLiteralString(s, redacted)
	}
	return trimPartial(s, echoForms(values))
}

// echoPattern matches v however an upstream writes it back: each character
// but ASCII letters and digits as itself, JSON-escaped (\u0040, \/, \")
// or percent-encoded (%40, + for a space), in any mix, in any case.
func echoPattern(v string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?i)")
	if asciiWord(v[0]) {
		b.WriteString(`\b`)
	}
	for _, r := range v {
		if r < utf8.RuneSelf && asciiWord(byte(r)) && r != '_' {
			b.WriteString(regexp.QuoteMeta(string(r)))
			continue
		}
		alts := []string{regexp.QuoteMeta(string(r)), jsonEscape(r), regexp.QuoteMeta(url.QueryEscape(string(r)))}
		switch r {
		case '/':
			alts = append(alts, `\\/`)
		case '"':
			alts = append(alts, `\\"`)
		case '\\':
			alts = append(alts, `\\\\`)
		case ' ':
			alts = append(alts, `%20`)
		}
		b.WriteString("(?:" + strings.Join(alts, "|") + ")")
	}
	if asciiWord(v[len(v)-1]) {
		b.WriteString(`\b`)
	}
	return regexp.MustCompile(b.String())
}

// jsonEscape is the pattern of r written as a JSON \u escape (a surrogate
// pair past the Basic Multilingual Plane).
func jsonEscape(r rune) string {
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		return fmt.Sprintf(`\\u%04x\\u%04x`, hi, lo)
	}
	return fmt.Sprintf(`\\u%04x`, r)
}

// trimPartial blanks the end of s where it is the start (three characters
// or more) of a form: the answer, or the window, broke off inside it.
func trimPartial(s string, forms []string) string {
	lower := strings.ToLower(s)
	for _, f := range forms {
		f = strings.ToLower(f)
		for k := len(f) - 1; k >= 3; k-- {
			if utf8.RuneStart(f[k]) && strings.HasSuffix(lower, f[:k]) {
				return s[:len(s)-k] + redacted
			}
		}
	}
	return s
}

// echoForms lists the usual forms of each value, for trimPartial: as is,
// JSON-escaped the way Go does it, and percent-encoded.
func echoForms(values []string) []string {
	var forms []string
	for _, v := range values {
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v))
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, string(b[1:len(b)-1]))
		}
	}
	return forms
}

func asciiWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// personalValues lists the personal values of s that must not reach a log
// through an upstream's echo: as stored, and as h pseudonymised the
// references (what Talon.One, Emporix and Nosto were sent). h may be nil.
func personalValues(s *model.Session, h *Hasher) []string {
	v := []string{s.Customer.Email, s.Customer.FirstName, s.Customer.LastName, s.Customer.CustomerReference}
	for i := range s.Orders {
		b := &s.Orders[i].Buyer
		v = append(v, b.Email, b.FirstName, b.LastName, b.CustomerReference)
	}
	if h != nil {
		for _, ref := range []string{s.Customer.CustomerReference} {
			v = append(v, h.Hash(ref))
		}
		for i := range s.Orders {
			v = append(v, h.Hash(s.Orders[i].Buyer.CustomerReference))
		}
	}
	return v
}

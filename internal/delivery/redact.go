package delivery

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// redactWindow is how much of an answer is redacted before the snippet is
// cut from it: far more than MaxSnippet, since white space collapses, and
// bounded, since an error page can be large. Redaction comes first, so
// that no cut can split a value and leave a prefix behind unrecognised.
const redactWindow = 64 << 10

const redacted = "[redacted]"

// Redactor knows one sink's secrets (its credentials and the other
// secrets of the configuration), so that an upstream that echoes the
// request (headers, form or body) in an error gets none of them into a
// snippet, and through it into logs, the inspector, the session API or
// Redis. Sinks build one at construction and make every snippet with
// For(personal values).Snippet; a nil *Redactor redacts no secret.
//
// The answer is decoded once (see decode): JSON escapes (\u0040, \/, \"),
// percent-encoding (%40, %20 or + for a space) and HTML references (named,
// decimal, hex) become the characters they stand for, in any mix, and
// case is folded; each value is looked for in that text, and what it
// matched is blanked in the answer as written. So, in every form:
//
//   - a secret wherever it appears, even glued to other text, and inside
//     base64 (HTTP Basic credentials "user:secret", "secret:…", or the
//     secret alone, at any of the three offsets base64 can put it);
//   - a personal value of three characters or more as a whole word where
//     it starts or ends with a letter or digit (so a last name "Doe" does
//     not blank "does");
//   - any value under three characters (a first name "Al", "J") only as a
//     whole token: bounded on both sides by something that is not a
//     letter or digit once decoded (a JSON string's quotes, "=" and "&" of
//     a form, spaces, the text's ends), so that it never shreds other
//     words. Such a value is blanked wherever it stands alone, even where
//     it means something else ("a" in a sentence): what is blanked too
//     much is a lesser harm than what is shown.
//
// Finally a prefix (three characters or more) of a value that the answer
// ends with, escapes decoded, is blanked: the answer, or the window, broke
// off inside it (even inside an escape).
//
// Decoding first, rather than a pattern per value that allows every
// escape of every character, keeps the cost linear: such patterns for a
// kilobyte-long access token took half a second per 64 KiB answer.
type Redactor struct {
	secrets []needle
	// dynamic lists secrets that change while the sink runs (Emporix's
	// access token), asked for at each snippet.
	dynamic func() []string
}

// NewRedactor returns a Redactor for secrets (empty ones are ignored) and
// for what dynamic returns at each snippet (dynamic may be nil).
func NewRedactor(secrets []string, dynamic func() []string) *Redactor {
	r := &Redactor{dynamic: dynamic}
	for _, s := range uniqueValues(secrets) {
		r.secrets = append(r.secrets, secretNeedles(s)...)
	}
	return r
}

// For binds the redactor to one delivery's personal values.
func (r *Redactor) For(personal []string) Redaction {
	return Redaction{r: r, personal: personal}
}

// Redaction is what one delivery's snippets are redacted of: the sink's
// secrets and the session's personal values. Its zero value redacts
// nothing but still cleans and cuts.
type Redaction struct {
	r        *Redactor
	personal []string
}

// Snippet returns the start of an upstream's answer for the log, the
// inspector, the session API and Redis: the secrets and personal values
// blanked as "[redacted]" (see Redactor), invalid UTF-8 replaced, control
// characters and runs of white space made one space, and the result cut at
// MaxSnippet bytes on a character boundary. It is the only way a sink
// makes DeliveryError.Snippet.
func (x Redaction) Snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body[:min(len(body), redactWindow)]), "\uFFFD")
	var needles []needle
	if x.r != nil {
		needles = x.r.secrets
		if x.r.dynamic != nil {
			for _, v := range uniqueValues(x.r.dynamic()) {
				needles = append(needles[:len(needles):len(needles)], secretNeedles(v)...)
			}
		}
	}
	for _, v := range uniqueValues(x.personal) {
		needles = append(needles[:len(needles):len(needles)], personalNeedle(v))
	}
	return collapse(redactText(s, needles))
}

// Err returns err with the message of its cause redacted like a
// snippet: a network error can quote what the upstream sent (Go's
// "malformed MIME header line: …"), and its cause is what the session
// API, Redis and the log keep of it. errors.Is and As still see the
// cause.
func (x Redaction) Err(err error) error {
	var de *DeliveryError
	if !errors.As(err, &de) || de.Err == nil {
		return err
	}
	c := *de
	c.Err = &redactedError{msg: x.Snippet([]byte(de.Err.Error())), err: de.Err}
	return &c
}

// redactedError is an error whose message was redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// collapse makes control characters and runs of white space one space and
// cuts s at MaxSnippet bytes on a character boundary.
func collapse(s string) string {
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

// uniqueValues drops empty and repeated values, so that a session whose
// buyer is its customer costs one pattern, not two.
func uniqueValues(vs []string) []string {
	seen := make(map[string]bool, len(vs))
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// shortValue is the length under which a value is only redacted as a
// whole token: shorter values occur inside too many words.
const shortValue = 3

// needle is one value to look for in a decoded answer.
type needle struct {
	text string
	// exact: look in the decoded answer as it is (base64, which has case),
	// else in its folded form.
	exact bool
	// alone{Start,End}: the match must not touch a letter or digit there.
	aloneStart, aloneEnd bool
	// partial: a prefix of it at the answer's end is blanked too.
	partial bool
}

// personalNeedle finds v as a whole word at an end that is a letter or
// digit; a short v only as a whole token.
func personalNeedle(v string) needle {
	f := decode(v).fold
	short := utf8.RuneCountInString(f) < shortValue
	first, _ := utf8.DecodeRuneInString(f)
	last, _ := utf8.DecodeLastRuneInString(f)
	return needle{text: f, aloneStart: short || isAlnum(first), aloneEnd: short || isAlnum(last), partial: !short}
}

// secretNeedles find secret s anywhere (a short one only as a whole
// token), and the base64 cores of s (see base64Cores).
func secretNeedles(s string) []needle {
	f := decode(s).fold
	if utf8.RuneCountInString(f) < shortValue {
		return []needle{{text: f, aloneStart: true, aloneEnd: true}}
	}
	ns := []needle{{text: f, partial: true}}
	for _, core := range base64Cores(s) {
		ns = append(ns, needle{text: core, exact: true, partial: true})
	}
	return ns
}

// base64Cores are the parts of base64 text that encode s whatever comes
// before and after it (HTTP Basic credentials "user:s" or ":s", "s:…", s
// alone): for each of the three offsets s can start at within a group of
// three bytes, the characters that depend on s's bytes alone, in the
// standard and the URL alphabet. The characters shared with a neighbour
// are left: two of them tell nothing of s.
func base64Cores(s string) []string {
	var cores []string
	for o := 0; o < 3; o++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, o), s...))
		enc = strings.TrimRight(enc, "=")
		from := (8*o + 5) / 6 // the first character free of the prefix's bits
		to := len(enc)
		if (o+len(s))%3 != 0 {
			to-- // the last character holds the next byte's bits too
		}
		if to-from < minBase64Core {
			continue
		}
		core := enc[from:to]
		cores = append(cores, core, strings.NewReplacer("+", "-", "/", "_").Replace(core))
	}
	return cores
}

// minBase64Core is the shortest base64 core looked for: base64 text is
// random-looking, and a shorter one would blank random words.
const minBase64Core = 6

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// minURLSecret is the shortest query value of an endpoint URL taken for
// a key: shorter ones ("v=2") are settings, and blanking them would
// garble every snippet.
const minURLSecret = 8

// urlSecrets are what in an endpoint URL (a webhook's, Nosto's) may be a
// key: the password of its user info and its longer query values. An
// upstream that echoes its request line puts them in an error.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if utf8.RuneCountInString(v) >= minURLSecret {
				out = append(out, v)
			}
		}
	}
	return out
}

// personalValues lists the personal values of s that must not reach a log
// through an upstream's echo: the customer's and the buyers' emails,
// names and references as stored, and as h pseudonymised the references
// (what Talon.One, Emporix and Nosto were sent). h may be nil.
func personalValues(s *model.Session, h *Hasher) []string {
	v := []string{s.Customer.Email, s.Customer.FirstName, s.Customer.LastName, s.Customer.CustomerReference}
	for i := range s.Orders {
		b := &s.Orders[i].Buyer
		v = append(v, b.Email, b.FirstName, b.LastName, b.CustomerReference)
	}
	if h != nil {
		v = append(v, h.Hash(s.Customer.CustomerReference))
		for i := range s.Orders {
			v = append(v, h.Hash(s.Orders[i].Buyer.CustomerReference))
		}
	}
	return v
}

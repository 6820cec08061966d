package upstream

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
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

const redacted = "[redacted]"

// Redactor knows one sink's secrets (its credentials and the other
// secrets of the configuration), so that an upstream that echoes the
// request (headers, form or body) in an error gets none of them into a
// snippet, and through it into logs, the inspector, the session API or
// Redis. Sinks build one at construction and make every snippet with
// For(personal values).Snippet; a nil *Redactor redacts no secret.
//
// What is redacted, case-insensitively, in every form an upstream may
// write a value back in (in any mix: as sent, JSON-escaped as \u0040, \/
// or \", percent-encoded with %20 or + for a space, HTML-escaped as a
// named entity or as a decimal or hex character reference):
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
// Finally a prefix (three characters or more) of a value's form that the
// answer ends with is blanked: the answer, or the window, broke off in it.
type Redactor struct {
	secrets []valuePattern
	forms   []string // the secrets' forms, for trimPartial
	// dynamic lists secrets that change while the sink runs (Emporix's
	// access token), asked for at each snippet.
	dynamic func() []string
}

// NewRedactor returns a Redactor for secrets (empty ones are ignored) and
// for what dynamic returns at each snippet (dynamic may be nil).
func NewRedactor(secrets []string, dynamic func() []string) *Redactor {
	r := &Redactor{dynamic: dynamic}
	for _, s := range uniqueValues(secrets) {
		r.secrets = append(r.secrets, secretPatterns(s)...)
		r.forms = append(r.forms, secretForms(s)...)
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
	var forms []string
	if x.r != nil {
		for _, p := range x.r.secrets {
			s = p.replace(s)
		}
		forms = x.r.forms
		if x.r.dynamic != nil {
			for _, v := range uniqueValues(x.r.dynamic()) {
				for _, p := range secretPatterns(v) {
					s = p.replace(s)
				}
				forms = append(forms[:len(forms):len(forms)], secretForms(v)...)
			}
		}
	}
	for _, v := range uniqueValues(x.personal) {
		s = personalPattern(v).replace(s)
		forms = append(forms[:len(forms):len(forms)], echoForms(v)...)
	}
	return collapse(trimPartial(s, forms))
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

// Snippet is Redaction.Snippet with no secrets, for callers without a sink.
func Snippet(body []byte, personal ...string) string {
	return Redaction{personal: personal}.Snippet(body)
}

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

// valuePattern is one value's echo pattern and where it must stand alone.
type valuePattern struct {
	re *regexp.Regexp
	// alone{Start,End}: the match must not touch a letter or digit there.
	aloneStart, aloneEnd bool
}

// personalPattern matches v as a whole word at an end that is a letter or
// digit; a short v only as a whole token.
func personalPattern(v string) valuePattern {
	short := utf8.RuneCountInString(v) < shortValue
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	return valuePattern{re: echoPattern(v), aloneStart: short || isAlnum(first), aloneEnd: short || isAlnum(last)}
}

// secretPatterns match secret s anywhere (a short one only as a whole
// token), and the base64 cores of s (see base64Cores).
func secretPatterns(s string) []valuePattern {
	short := utf8.RuneCountInString(s) < shortValue
	ps := []valuePattern{{re: echoPattern(s), aloneStart: short, aloneEnd: short}}
	if short {
		return ps
	}
	for _, core := range base64Cores(s) {
		ps = append(ps, valuePattern{re: base64Pattern(core)})
	}
	return ps
}

// secretForms are a secret's forms for trimPartial: its echo forms and
// its base64 cores.
func secretForms(s string) []string {
	if utf8.RuneCountInString(s) < shortValue {
		return nil
	}
	return append(echoForms(s), base64Cores(s)...)
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

// minBase64Core is the shortest base64 core matched: base64 text is
// random-looking, and a shorter one would blank random words.
const minBase64Core = 6

// base64Pattern matches a base64 core case-sensitively (base64 has no
// case to fold), its punctuation (+ / - _) in any escape.
func base64Pattern(core string) *regexp.Regexp {
	var b strings.Builder
	for _, r := range core {
		if r < utf8.RuneSelf && isAlnum(r) {
			b.WriteRune(r)
			continue
		}
		b.WriteString("(?i:" + charPattern(r) + ")")
	}
	return regexp.MustCompile(b.String())
}

// replace blanks every match of p in s that stands where p requires.
func (p valuePattern) replace(s string) string {
	var b strings.Builder
	last, from := 0, 0
	for from < len(s) {
		loc := p.re.FindStringIndex(s[from:])
		if loc == nil || loc[0] == loc[1] {
			break
		}
		i, j := from+loc[0], from+loc[1]
		if (!p.aloneStart || !alnumBefore(s[:i])) && (!p.aloneEnd || !alnumAfter(s[j:])) {
			b.WriteString(s[last:i])
			b.WriteString(redacted)
			last, from = j, j
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		from = i + size
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// echoPattern matches v however an upstream writes it back: each
// character as itself or escaped (see charPattern), in any mix, in any
// case.
func echoPattern(v string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?i)")
	for _, r := range v {
		b.WriteString(charPattern(r))
	}
	return regexp.MustCompile(b.String())
}

// charPattern matches r (in either case) as itself, JSON-escaped (\u0040,
// \/, \", \\), percent-encoded (each UTF-8 byte; + and %20 for a space),
// or as an HTML character reference (decimal, hex, with or without
// leading zeros and the closing ';', or named).
func charPattern(r rune) string {
	alts := []string{regexp.QuoteMeta(string(r))}
	for _, c := range caseVariants(r) {
		alts = append(alts, jsonEscape(c), percentPattern(c),
			fmt.Sprintf(`&#0*%d;?`, c), fmt.Sprintf(`&#x0*%x;?`, c))
	}
	if n, ok := htmlNames[r]; ok {
		alts = append(alts, "&(?:"+n+");")
	}
	switch r {
	case '/', '"', '\\', '\'':
		alts = append(alts, `\\`+regexp.QuoteMeta(string(r)))
	case ' ':
		alts = append(alts, `\+`)
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}

// htmlNames are the named character references of the punctuation that
// names, emails and secrets contain.
var htmlNames = map[rune]string{
	'&': "amp", '<': "lt", '>': "gt", '"': "quot", '\'': "apos", '@': "commat",
	'.': "period", '+': "plus", '/': "sol", '_': "lowbar", '-': "hyphen|dash",
	':': "colon", '=': "equals", '#': "num", '!': "excl", '?': "quest",
	'%': "percnt", '$': "dollar", '(': "lpar", ')': "rpar", ',': "comma",
	';': "semi", '*': "ast", '[': "lsqb|lbrack", ']': "rsqb|rbrack",
	'{': "lcub|lbrace", '}': "rcub|rbrace", '\\': "bsol", '|': "verbar|vert",
	'^': "Hat", '`': "grave", ' ': "nbsp", '~': "tilde",
}

// caseVariants is r and its other cases: an escape spells one exact
// character, so case-insensitivity needs each spelled out.
func caseVariants(r rune) []rune {
	vs := []rune{r}
	for _, c := range []rune{unicode.ToLower(r), unicode.ToUpper(r)} {
		if c != vs[0] && (len(vs) == 1 || c != vs[1]) {
			vs = append(vs, c)
		}
	}
	return vs
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

// percentPattern is r's UTF-8 bytes percent-encoded.
func percentPattern(r rune) string {
	var b strings.Builder
	for _, c := range []byte(string(r)) {
		fmt.Fprintf(&b, "%%%02x", c)
	}
	return b.String()
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

// echoForms lists the usual forms of v, for trimPartial: as is,
// JSON-escaped the way Go does it, percent-encoded and HTML-escaped.
// Values under three characters have none: their prefixes are too short
// to tell.
func echoForms(v string) []string {
	if utf8.RuneCountInString(v) < shortValue {
		return nil
	}
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), html.EscapeString(v)}
	if b, err := json.Marshal(v); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	return forms
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Escapes that end or start the text next to a match, decoded for the
// whole-token test: "%20Al" has a space, not a "0", before "Al".
var (
	percentEnd   = regexp.MustCompile(`%([0-9a-fA-F]{2})$`)
	jsonUEnd     = regexp.MustCompile(`\\u([0-9a-fA-F]{4})$`)
	jsonShortEnd = regexp.MustCompile(`\\[bfnrt"/\\]$`)
	htmlEnd      = regexp.MustCompile(`&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);$`)
	percentStart = regexp.MustCompile(`^%([0-9a-fA-F]{2})`)
	jsonUStart   = regexp.MustCompile(`^\\u([0-9a-fA-F]{4})`)
	htmlStart    = regexp.MustCompile(`^&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);`)
)

// alnumBefore reports whether text ends with a letter or digit, escaped
// or not.
func alnumBefore(text string) bool {
	if m := percentEnd.FindStringSubmatch(text); m != nil {
		return alnumHexByte(m[1])
	}
	if m := jsonUEnd.FindStringSubmatch(text); m != nil {
		return alnumCode("#x" + m[1])
	}
	if jsonShortEnd.MatchString(text) {
		return false
	}
	if m := htmlEnd.FindStringSubmatch(text); m != nil {
		return alnumCode(m[1])
	}
	r, size := utf8.DecodeLastRuneInString(text)
	return size > 0 && isAlnum(r)
}

// alnumAfter reports whether text starts with a letter or digit, escaped
// or not. A backslash starts a JSON escape: only \u can be a letter.
func alnumAfter(text string) bool {
	if m := percentStart.FindStringSubmatch(text); m != nil {
		return alnumHexByte(m[1])
	}
	if m := jsonUStart.FindStringSubmatch(text); m != nil {
		return alnumCode("#x" + m[1])
	}
	if strings.HasPrefix(text, `\`) {
		return false
	}
	if m := htmlStart.FindStringSubmatch(text); m != nil {
		return alnumCode(m[1])
	}
	r, size := utf8.DecodeRuneInString(text)
	return size > 0 && isAlnum(r)
}

// alnumHexByte: a percent-encoded byte is a letter or digit when it is an
// ASCII one or part of a multi-byte character (most of which are letters).
func alnumHexByte(h string) bool {
	var c byte
	fmt.Sscanf(h, "%02x", &c)
	return c >= 0x80 || isAlnum(rune(c))
}

// alnumCode decodes an HTML reference's body ("#64", "#x40", "amp"; a
// JSON \u0040 comes as "#x0040") and reports whether it is a letter or digit; a named
// one counts as a letter unless it is known punctuation.
func alnumCode(code string) bool {
	var n int
	switch {
	case strings.HasPrefix(code, "#x"), strings.HasPrefix(code, "#X"):
		fmt.Sscanf(code[2:], "%x", &n)
	case strings.HasPrefix(code, "#"):
		fmt.Sscanf(code[1:], "%d", &n)
	default:
		for _, names := range htmlNames {
			for _, name := range strings.Split(names, "|") {
				if name == code {
					return false
				}
			}
		}
		return true
	}
	return isAlnum(rune(n))
}

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

package delivery

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf16"
)

// An upstream's ways of writing a value back; tests echo with each.
var echoEncoders = []struct {
	name string
	enc  func(string) string
}{
	{"verbatim", func(s string) string { return s }},
	{"upper case", strings.ToUpper},
	{"lower case", strings.ToLower},
	{"query escape (+ for space)", url.QueryEscape},
	{"path escape (%20)", url.PathEscape},
	{"percent, every byte", percentAll},
	{"JSON as Go writes it", jsonGo},
	{"JSON, every char \\u", jsonAll},
	{"JSON, \\u upper hex", func(s string) string { return strings.ReplaceAll(strings.ToUpper(jsonAll(s)), `\U`, `\u`) }},
	{"JSON, \\/ and \\\"", func(s string) string { return strings.NewReplacer("/", `\/`, `"`, `\"`).Replace(s) }},
	{"HTML escape", html.EscapeString},
	{"HTML decimal", func(s string) string { return htmlRefs(s, "&#%d;") }},
	{"HTML hex", func(s string) string { return htmlRefs(s, "&#x%x;") }},
	{"HTML hex, upper, padded", func(s string) string { return htmlRefs(s, "&#X%04X;") }},
	{"HTML named", htmlNamedEscape},
	{"mixed", mixed},
}

func percentAll(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func jsonGo(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func jsonAll(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, `\u%04x`, u)
	}
	return b.String()
}

func htmlRefs(s, format string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, format, r)
	}
	return b.String()
}

// htmlNames are named character references of the punctuation that
// names, emails and secrets contain, and of some letters.
var htmlNames = map[rune]string{
	'&': "amp", '<': "lt", '>': "gt", '"': "quot", '\'': "apos", '@': "commat",
	'.': "period", '+': "plus", '/': "sol", '_': "lowbar",
	':': "colon", '=': "equals", '#': "num", '!': "excl", '?': "quest",
	'%': "percnt", '$': "dollar", '(': "lpar", ')': "rpar", ',': "comma",
	';': "semi", '*': "ast", '[': "lsqb|lbrack", ']': "rsqb|rbrack",
	'{': "lcub|lbrace", '}': "rcub|rbrace", '\\': "bsol", '|': "verbar|vert",
	'^': "Hat", '`': "grave",
	'é': "eacute", 'ü': "uuml", 'ö': "ouml", 'Ö': "Ouml",
}

// htmlNamedEscape writes punctuation as named references (&commat; &apos;).
func htmlNamedEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if n, ok := htmlNames[r]; ok {
			b.WriteString("&" + strings.Split(n, "|")[0] + ";")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mixed writes every other character escaped, each differently.
func mixed(s string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		switch i % 4 {
		case 1:
			b.WriteString(jsonAll(string(r)))
		case 2:
			b.WriteString(percentAll(string(r)))
		case 3:
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// basicForms are secret s in base64 as HTTP Basic credentials carry it.
func basicForms(s string) map[string]string {
	return map[string]string{
		"Basic user:secret":   base64.StdEncoding.EncodeToString([]byte("user:" + s)),
		"Basic :secret":       base64.StdEncoding.EncodeToString([]byte(":" + s)),
		"Basic secret:x":      base64.StdEncoding.EncodeToString([]byte(s + ":x")),
		"base64 secret alone": base64.StdEncoding.EncodeToString([]byte(s)),
		"base64 URL, no pad":  base64.RawURLEncoding.EncodeToString([]byte("ab:" + s)),
		"base64 JSON-escaped": strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte("id:"+s)), "/", `\/`),
	}
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{6,}`)

// base64Leak reports whether text holds s in base64 at any offset: every
// run of base64 characters is decoded from each of its first four
// positions, in both alphabets.
func base64Leak(text, s string) bool {
	text = strings.ReplaceAll(text, `\/`, "/")
	for _, run := range base64Run.FindAllString(text, -1) {
		for o := 0; o < 4 && o < len(run); o++ {
			part := run[o:]
			if len(part)%4 == 1 {
				part = part[:len(part)-1]
			}
			for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
				if d, err := enc.DecodeString(part); err == nil && strings.Contains(string(d), s) {
					return true
				}
			}
		}
	}
	return false
}

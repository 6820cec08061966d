package tagging

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	xhtml "golang.org/x/net/html"
)

// Our tokenizer against golang.org/x/net/html's, on every page the tests
// have: the fixtures, the fuzz corpus and FuzzParse's seeds. Each is cut
// into regions the way each tokenizer sees them, and only what decides the
// tagging is compared: which tags are real, with which name and classes,
// at which bytes; and which bytes are text, raw text or comments (where no
// tagging can be). Differences must be listed in xnetDifferences.
// Self-closing flags are not compared: the tree decides what they mean,
// and openElement honours them on purpose where browsers do not.

// xnetDifferences are where the two tokenizers see a page differently,
// each with the reason ours is right or harmless. An unlisted difference
// fails the test, and so does an entry that no longer occurs.
var xnetDifferences = []xnetDifference{
	{
		input: "seed parseTests script < before <script while escaped",
		xnet:  `raw@8-21 </script>@21-30 <div class="nosto_page_type">@30-57 text@57-61 </div>@61-67 text@67-70`,
		ours:  `raw@8-70`,
		why: "x/net/html (v0.60.0, readScript) goes from the script data escaped less-than sign state back to " +
			"plain script data when neither '/' nor a letter follows the '<'; the spec (and browsers, parse5) " +
			"reconsume in the escaped state, so the \"<script>\" after \"<<\" opens the double-escaped state and " +
			"the first \"</script>\" does not end the script. We follow the spec (script_test.go checks us against it)",
	},
	{
		input: "corpus nul-in-names",
		xnet:  "<div\uFFFD class=\"nosto_page_type\uFFFD\">@0-31",
		ours:  `<div\x00 class="nosto_page_type\x00">@0-31`,
		why:   nulWhy,
	},
	{
		input: "corpus nul-in-names",
		xnet:  "</div\uFFFD>@35-42",
		ours:  `</div\x00>@35-42`,
		why:   nulWhy,
	},
	{
		input: "corpus class-char-refs",
		xnet:  `<div class="nosto_cart line_item">@0-36`,
		ours:  `<div class="nosto_cart&#9line_item">@0-36`,
		why:   classRefsWhy,
	},
	{
		input: "corpus class-char-refs",
		xnet:  `<div class="x &ampx nosto_page_type">@42-79`,
		ours:  `<div class="x &x nosto_page_type">@42-79`,
		why:   classRefsWhy,
	},
}

const (
	nulWhy = "The spec (and x/net/html) read NUL in tag names and attribute values as U+FFFD; we keep the byte. " +
		"No tagging class or special element name holds either, so no element changes its role; only an end tag " +
		"spelled with a literal U+FFFD would close another element, which no page does"
	classRefsWhy = "classify (tree.go) decodes class values with the standard library's html.UnescapeString: it leaves " +
		"a one-digit numeric reference without ';' (&#9l) alone and decodes a legacy named one before an " +
		"alphanumeric (&ampx), where the spec's rules for attribute values, x/net/html's, do the reverse. " +
		"Tagging classes are plain ASCII words, never written with references; left as is for the value-rule rework"
)

type xnetDifference struct {
	input      string // a key of tokenizerInputs
	xnet, ours string // the regions each sees there
	why        string
}

// regionKind is what a tokenizer makes of a stretch of a page.
type regionKind uint8

const (
	rText    regionKind = iota // character data
	rRCData                    // title and textarea content: text, never markup
	rRaw                       // script, style, … content: neither text nor markup
	rComment                   // comments, doctypes, bogus comments, "</>"
	rCut                       // a tag cut by the end of the page: dropped
	rStart
	rEnd
)

var regionNames = [...]string{"text", "rcdata", "raw", "comment", "cut", "start", "end"}

type region struct {
	kind       regionKind
	start, end int
	name       string // tags: the lowercase name
	class      string // start tags: the class attribute's tokens, space-separated
}

func (r region) String() string {
	switch r.kind {
	case rStart:
		if r.class != "" {
			return fmt.Sprintf("<%s class=%q>@%d-%d", quoted(r.name), r.class, r.start, r.end)
		}
		return fmt.Sprintf("<%s>@%d-%d", quoted(r.name), r.start, r.end)
	case rEnd:
		return fmt.Sprintf("</%s>@%d-%d", quoted(r.name), r.start, r.end)
	}
	return fmt.Sprintf("%s@%d-%d", regionNames[r.kind], r.start, r.end)
}

// quoted is s with Go's escapes for what would not print, unquoted.
func quoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// regions is a page's regions in order. Runs of one kind that is not a tag
// are merged: x/net/html splits text where we do not, and the reverse.
type regions []region

func (rs *regions) add(r region) {
	if r.start == r.end {
		return
	}
	if n := len(*rs); n > 0 && r.kind < rStart && (*rs)[n-1].kind == r.kind {
		(*rs)[n-1].end = r.end
		return
	}
	*rs = append(*rs, r)
}

// classTokens splits a decoded class value as classify does.
func classTokens(v []byte) string {
	return strings.Join(strings.FieldsFunc(string(v), func(r rune) bool { return r < 256 && isSpace[r] }), " ")
}

// asciiLower lowercases ASCII letters only, as HTML (and x/net/html) do.
func asciiLower(b []byte) string {
	s := []byte(string(b))
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			s[i] = c + 'a' - 'A'
		}
	}
	return string(s)
}

// xnetRegions are the regions of x/net/html's tokens, placed by the length
// of each token's raw bytes (which partition the input).
func xnetRegions(src []byte) regions {
	var rs regions
	z := xhtml.NewTokenizer(bytes.NewReader(src))
	at, rawNext := 0, rText
	for {
		tt := z.Next()
		r := region{start: at, end: at + len(z.Raw())}
		switch tt {
		case xhtml.ErrorToken:
			if z.Err() != io.EOF {
				panic(z.Err())
			}
			rs.add(region{kind: rCut, start: at, end: len(src)})
			return rs
		case xhtml.TextToken:
			r.kind = rawNext // the text after a raw start tag is its content
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken, xhtml.EndTagToken:
			r.kind = rEnd
			name, more := z.TagName()
			r.name = string(name)
			if tt != xhtml.EndTagToken {
				r.kind = rStart
				for more {
					var k, v []byte
					if k, v, more = z.TagAttr(); string(k) == "class" {
						r.class = classTokens(v)
						break
					}
				}
			}
		default: // comments, doctypes
			r.kind = rComment
		}
		rawNext = rText
		if r.kind == rStart {
			switch r.name {
			case "title", "textarea":
				rawNext = rRCData
			case "script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext":
				rawNext = rRaw
			}
		}
		rs.add(r)
		at = r.end
	}
}

// ourRegions walks src as run does, through markup, and reads back what
// each step took: the tag from readTag, and what markup skipped past the
// tag as the element's raw content.
func ourRegions(src []byte) regions {
	var rs regions
	p := parser{src: src}
	for p.pos < len(src) {
		i := bytes.IndexByte(src[p.pos:], '<')
		if i < 0 {
			rs.add(region{kind: rText, start: p.pos, end: len(src)})
			break
		}
		at := p.pos + i
		rs.add(region{kind: rText, start: p.pos, end: at})
		p.pos = at
		p.markup()
		rs.addMarkup(src, at, p.pos)
	}
	return rs
}

// addMarkup adds what markup made of src[at:next], from its '<'.
func (rs *regions) addMarkup(src []byte, at, next int) {
	c := byte(0)
	if at+1 < len(src) {
		c = src[at+1]
	}
	switch {
	case at+1 >= len(src), c == '/' && at+2 >= len(src):
		rs.add(region{kind: rText, start: at, end: next})
	case isAlpha(c), c == '/' && isAlpha(src[at+2]):
		name := at + 1
		if c == '/' {
			name++
		}
		q := parser{src: src}
		t := q.readTag(name)
		if t.incomplete {
			rs.add(region{kind: rCut, start: at, end: len(src)})
			return
		}
		_, nameEnd := tagName(src, name)
		r := region{kind: rEnd, start: at, end: q.pos, name: asciiLower(src[name:nameEnd])}
		if c != '/' {
			r.kind = rStart
			if t.classAt >= 0 {
				r.class = classTokens([]byte(html.UnescapeString(string(t.class))))
			}
		}
		rs.add(r)
		kind := rRaw
		if specialOf(t.key).flags&spRCData != 0 {
			kind = rRCData
		}
		rs.add(region{kind: kind, start: q.pos, end: next}) // empty unless raw
	case c == '/', c == '!', c == '?':
		rs.add(region{kind: rComment, start: at, end: next})
	default: // a '<' that starts nothing
		rs.add(region{kind: rText, start: at, end: next})
	}
}

// hunk is a stretch where the two differ, from the first region that
// differs to the first byte where both end a region again.
type hunk struct{ xnet, ours string }

func diffRegions(x, o regions) []hunk {
	var hs []hunk
	i, j := 0, 0
	for i < len(x) && j < len(o) {
		if x[i] == o[j] {
			i, j = i+1, j+1
			continue
		}
		var hx, ho []string
		var px, po int
		for {
			if i < len(x) && (px <= po || j == len(o)) {
				hx, px, i = append(hx, x[i].String()), x[i].end, i+1
			}
			if j < len(o) && (po < px || i == len(x)) {
				ho, po, j = append(ho, o[j].String()), o[j].end, j+1
			}
			if px == po || i == len(x) && j == len(o) {
				break
			}
		}
		hs = append(hs, hunk{strings.Join(hx, " "), strings.Join(ho, " ")})
	}
	return hs
}

// checkPartition fails t unless rs cover src from start to end in order.
func checkPartition(t *testing.T, who, name string, rs regions, n int) {
	t.Helper()
	at := 0
	for _, r := range rs {
		if r.start != at || r.end <= r.start {
			t.Fatalf("%s: %s regions do not partition the input at %v", name, who, r)
		}
		at = r.end
	}
	if at != n {
		t.Fatalf("%s: %s regions end at %d of %d", name, who, at, n)
	}
}

// tokenizerInputs are the pages compared, by name.
func tokenizerInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{}
	files, err := filepath.Glob("testdata/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	if b, err := os.ReadFile("../../bench/www/page-7k.html"); err == nil {
		in["bench page-7k.html"] = b
	}
	for _, f := range files {
		in[f] = readFixture(t, filepath.Base(f))
	}
	for name, b := range fuzzCorpus(t) {
		in["corpus "+name] = b
	}
	for name, b := range fuzzSeeds() {
		in["seed "+name] = b
	}
	return in
}

func TestTokenizerAgainstXNet(t *testing.T) {
	inputs := tokenizerInputs(t)
	seen := make([]bool, len(xnetDifferences))
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		src := inputs[name]
		x, o := xnetRegions(src), ourRegions(src)
		checkPartition(t, "x/net", name, x, len(src))
		checkPartition(t, "our", name, o, len(src))
		for _, h := range diffRegions(x, o) {
			k := slices.IndexFunc(xnetDifferences, func(d xnetDifference) bool {
				return d.input == name && d.xnet == h.xnet && d.ours == h.ours
			})
			if k < 0 {
				t.Errorf("%s: unrecorded difference from x/net/html:\n\tx/net: %s\n\tours:  %s\n\tinput: %.300q", name, h.xnet, h.ours, src)
				continue
			}
			seen[k] = true
		}
	}
	for k, d := range xnetDifferences {
		if !seen[k] {
			t.Errorf("recorded difference no longer occurs: %s:\n\tx/net: %s\n\tours:  %s", d.input, d.xnet, d.ours)
		}
	}
}

package tagging

import (
	"bytes"
	"html"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// parseWith parses with a fresh parser; noSkim walks every byte with run
// alone, as Parse did before skim.
func parseWith(src []byte, truncated, noSkim bool) Page {
	p := parser{noSkim: noSkim}
	return p.parse(src, truncated, unknownFirst)
}

// runState is the parser's state after the walk, before the open elements
// are popped: skim must leave exactly what run leaves, not only the same
// Page.
type runState struct {
	pos, open, overflow, openP, fields, cartN, orderN int
	stack                                             []frame
	textBuf                                           []byte
	seen                                              [ctxCount]uint32
	page                                              Page
	product                                           Product
	item                                              rawItem
}

func stateAfterRun(src []byte, noSkim bool) runState {
	p := parser{src: src, noSkim: noSkim}
	p.findNosto(unknownFirst)
	if p.last >= 0 {
		p.run()
	}
	if len(p.stack) == 0 {
		p.stack = nil // an empty stack is an empty stack, whatever its capacity
	}
	if len(p.textBuf) == 0 {
		p.textBuf = nil
	}
	return runState{p.pos, p.open, p.overflow, p.openP, p.fields, p.cartN, p.orderN,
		p.stack, p.textBuf, p.seen, p.page, p.product, p.item}
}

// checkSameAsFull fails t if the fast path differs from the full walk on
// src, whole or cut at the given lengths.
func checkSameAsFull(t testing.TB, name string, src []byte, cuts ...int) {
	t.Helper()
	fast, full := parseWith(src, false, false), parseWith(src, false, true)
	if !reflect.DeepEqual(fast, full) {
		t.Fatalf("%s: fast path differs:\nfast %s\nfull %s", name, dump(fast), dump(full))
	}
	if Parse(src); !reflect.DeepEqual(Parse(src), full) {
		t.Fatalf("%s: Parse differs from the full walk", name)
	}
	if a, b := stateAfterRun(src, false), stateAfterRun(src, true); !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: state after the walk differs:\nfast %+v\nfull %+v", name, a, b)
	}
	for _, n := range cuts {
		if n < 0 || n > len(src) {
			continue
		}
		fast, full := parseWith(src[:n], true, false), parseWith(src[:n], true, true)
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("%s cut at %d: fast path differs:\nfast %s\nfull %s", name, n, dump(fast), dump(full))
		}
	}
}

// cutsOf is every length of small pages, and a spread over large ones.
func cutsOf(src []byte) []int {
	step := 1
	if len(src) > 8<<10 {
		step = 97
	}
	var cuts []int
	for n := 0; n <= len(src); n += step {
		cuts = append(cuts, n)
	}
	return cuts
}

const cartLine = `<div class="line_item"><span class="product_id">A1</span><span class="quantity">2</span><span class="unit_price">1</span></div>`

// trickyPages put tagging, or what looks like it, where the fast path must
// agree with the full walk on what is markup and which elements are open.
var trickyPages = map[string]string{
	"nosto_ in script strings": `<script>var s = '<div class="nosto_cart">` + cartLine + `</div>'; if (a<b) x = "</div>";</script><div class="nosto_customer"><span class="email">a@b</span></div>`,
	"script template":          `<script type="text/template"><div class="nosto_cart">` + cartLine + `</div></script><span class="nosto_page_type">cart</span>`,
	"script end tag lookalikes": `<script>"</scriptx><div class=nosto_cart>"</script	><div class=nosto_cart>` + cartLine + `</div>` +
		`<SCRIPT>"</SCRIPT-x> <div class=nosto_customer>"</Script ><span class=nosto_page_type>cart</span>`,
	"script escapes": `<script><!--<script><div class="nosto_cart">` + cartLine + `</div></script>--><div class=nosto_customer></script><div class="nosto_page_type">cart</div>` +
		`<script><!--</script><span class=nosto_variation>EUR</span><SCRIPT><!-- <Script/> --!> --></script x>`,
	"comments":                     `<!-- <div class="nosto_cart"> --><!--><div class=nosto_page_type>cart</div><!---><!-- -- --!><div class=nosto_variation>EUR</div><!-- x ---><!-- <span class=nosto_search_term>q</span> -- > --!> <div class=nosto_category>c</div>`,
	"unclosed comment":             `<div class=nosto_page_type>cart</div><!-- <div class=nosto_variation>EUR</div>`,
	"bogus comments":               `<! nosto_cart > <div class="nosto_variation">EUR</div><?xml nosto_page_type ?><![CDATA[ <div class=nosto_cart> ]]><div class=nosto_page_type>cart</div></ nosto_cart ><div class=nosto_category>c</div>`,
	"textarea and title":           `<title><div class="nosto_cart"></title><textarea><span class="nosto_customer"></textarea><span class=nosto_page_type>cart</span><TEXTAREA>nosto_variation</TextArea ><div class=nosto_variation>EUR</div>`,
	"other raw text":               `<style>.nosto_cart{}</style><xmp><div class=nosto_cart></xmp><noscript><div class=nosto_cart></noscript><iframe><div class=nosto_cart></iframe><noembed><div class=nosto_cart></noembed><noframes><div class=nosto_cart></noframes><div class=nosto_page_type>cart</div>`,
	"plaintext":                    `<div class=nosto_page_type>cart</div><plaintext><div class=nosto_variation>EUR</div>`,
	"unclosed p":                   `<p>intro<div class="nosto_cart">` + cartLine + `</div>`,
	"p closes span cart":           `<p>intro<span class="nosto_cart"><div class="line_item"><span class="product_id">A1</span><span class="quantity">2</span><span class="unit_price">1</span></div></span>`,
	"p behind a scope":             `<p>intro<button><span class="nosto_cart"><div class="line_item"><span class="product_id">A1</span><span class="quantity">2</span><span class="unit_price">1</span></div></span></button>`,
	"outer end tag closes tagging": `<section><div><div class="nosto_cart"></section>` + cartLine + `</div>`,
	"stray end tag in tagging":     `<div><div class="nosto_cart"></article>` + cartLine + `</div></div>`,
	"unclosed li before tagging":   `<ul><li>a<li class="nosto_cart">` + cartLine + `<li>x` + cartLine + `</ul>`,
	"dd and option":                `<dl><dd>a<dd class=nosto_customer><span class=email>a@b</span><dt>x<span class=first_name>J</span></dl><select><option><option class=nosto_page_type>cart</select>`,
	"table cells":                  `<table><tr><td>a<td class=nosto_cart>` + cartLine + `<td>` + cartLine + `<tr><td>x</table>`,
	"attribute values with > and <": `<a title="a>b" data-x='<div class="nosto_cart">'>x</a><a title=x>y class=nosto_cart>z</a>` +
		`<img alt="<span class=nosto_page_type>" class=a><div class="x>" data-y="nosto_cart" class="nosto_page_type">cart</div>`,
	"class on a line break":      "<div\nclass=\"nosto_cart\"\n>" + cartLine + "</div><div class=\n\"nosto_page_type\">cart</div><span\r\n\tclass='nosto_variation'>EUR</span>",
	"uppercase tags":             `<DIV CLASS="nosto_cart">` + strings.ToUpper(cartLine) + `</DIV><SPAN Class=nosto_page_type>cart</SPAN><P>x<DIV class=nosto_variation>EUR</DIV>`,
	"nosto_ in data attributes":  `<div data-nosto_cart="1" data-class="nosto_cart"><span class=line_item nosto_x></span></div><div nosto_cart class="nosto_page_type">cart</div><div class= data-nosto_x>x</div>`,
	"nosto_ in text":             `<p>Add nosto_cart to class="nosto_cart" here</p><div>nosto_page_type</div><span class=nosto_page_type>cart</span>`,
	"nosto_ in attribute names":  `<div nosto_cart=1 class=x>y</div><div class=x nosto_cart>y</div><div class="nosto_page_type" nosto_>cart</div>`,
	"nosto_ in end tags":         `<div class=a></div class="nosto_cart"><div class=nosto_cart></div nosto_></div>` + cartLine,
	"template":                   `<template><div class=nosto_cart>` + cartLine + `</div></template><div class=nosto_page_type>cart</div>`,
	"template closed from below": `<div><template><span></div><div class=nosto_cart>` + cartLine + `</div>`,
	"unclosed template":          `<template><p>x</p><div class=nosto_cart>` + cartLine + `</div>`,
	"self-closing":               `<div/><span/><a href=/x/>link<div class=nosto_cart/>` + cartLine + `<br/><span class=nosto_page_type/>cart<p/>x<div class=nosto_variation>EUR</div>`,
	"void elements":              `<img src=x><br><hr><input><div class=nosto_cart><hr>` + cartLine + `</div>`,
	"odd markup":                 `<3 <> </> </ div> </3> <a<b>c</a<b><div class=nosto_page_type>cart</div>< div class=nosto_cart>`,
	"ends after '<'":             `<div class=nosto_page_type>cart</div><`,
	"ends after '</'":            `<div class=nosto_page_type>cart</div></`,
	"ends in a tag":              `<div class=nosto_page_type>cart</div><div class="x`,
	"ends in a tag name":         `<div class=nosto_page_type>cart</div><div`,
	"ends after '='":             `<div class=nosto_page_type>cart</div><div class=`,
	"ends in a nosto tag":        `<p>x<div class="nosto_cart`,
	"ends in an end tag":         `<div class=nosto_page_type>cart</div></div class="`,
	"entities in class":          `<div class="nosto&#95;cart">` + cartLine + `</div><div class="x &amp; nosto_cart">` + cartLine + `</div>`,
	"tagging twice":              `<div class=nosto_cart>` + cartLine + `</div><p>between<div class=nosto_cart></div><div class=nosto_customer><span class=email>a@b</span></div>`,
	"tagging after the last hit": `<div class=nosto_cart></div></div></div><div class=line_item>`,
}

func fuzzCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil {
		t.Fatal(err)
	}
	corpus := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: unexpected corpus format", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		corpus[filepath.Base(f)] = []byte(s)
	}
	return corpus
}

func TestSkimSameAsFullWalk(t *testing.T) {
	pages := map[string][]byte{}
	for _, name := range []string{"page-7k.html", "product-100k.html"} {
		pages[name] = readFixture(t, name)
	}
	if b, err := os.ReadFile("../../bench/www/page-7k.html"); err == nil {
		pages["bench page-7k.html"] = b
	}
	for name, b := range fuzzCorpus(t) {
		pages["corpus "+name] = b
	}
	for _, tt := range parseTests {
		pages["parseTests "+tt.name] = []byte(tt.html)
	}
	for name, html := range trickyPages {
		pages[name] = []byte(html)
		// The same after a prefix that leaves elements open, and inside
		// a page's own prefix.
		pages[name+" after open elements"] = []byte(`<html><body><div><p>x<ul><li><section>` + html + `</section></li></div>` + html)
	}
	deep := strings.Repeat("<div>", maxDepth+10) + `<div class=nosto_cart>` + cartLine + `</div>` + strings.Repeat("</div>", 20) + `<div class=nosto_page_type>cart</div>`
	pages["deeper than maxDepth"] = []byte(deep)
	many := strings.Repeat(`<!-- nosto_ -->`, maxHits+5) + `<div class=nosto_cart>` + cartLine + `</div><span class=x>nosto_</span><span class="nosto_page_type">cart</span>`
	pages["more hits than maxHits"] = []byte(many)
	manyTags := strings.Repeat(`<i class=nosto_x>`, maxHits+5) + `<b data-x=nosto_></b><div class=nosto_cart>` + cartLine + `</div>`
	pages["more nosto tags than maxHits"] = []byte(manyTags)
	for name, src := range pages {
		checkSameAsFull(t, name, src, cutsOf(src)...)
	}
	// The tricky pages, and prefixes of them, spliced into the fixture in
	// front of its tagging.
	page := readFixture(t, "page-7k.html")
	at := bytes.Index(page, []byte("<!-- Nosto tagging"))
	for name, html := range trickyPages {
		src := bytes.Join([][]byte{page[:at], []byte(html), page[at:]}, nil)
		checkSameAsFull(t, "fixture with "+name, src, at+len(html)/2, at+len(html), len(src)-100)
	}
}

// TestSkimRandomPages compares the paths on pages made of markup that
// changes the tokenizer's or the tree code's state.
func TestSkimRandomPages(t *testing.T) {
	parts := []string{
		"<div>", "</div>", "<p>", "</p>", "<li>", "</li>", "<ul>", "</ul>", "<td>", "<tr>", "<table>", "</table>",
		"<button>", "</button>", "<section>", "</section>", "<span>", "</span>", "<template>", "</template>",
		"<script>", "</script>", "<SCRIPT type=x>", "</script >", "<style>", "</style>", "<title>", "</title>",
		"<textarea>", "</textarea>", "<noscript>", "</noscript>", "<br>", "<img src=x/>", "<div/>", "<hr>", "<!--<script>", "<script><!--",
		"<!--", "-->", "--!>", "<!-->", "<!", "<?", ">", "<", "</", "/>", "'", `"`, "=", " ", "\n", "x", "&amp;",
		`<div class="nosto_cart">`, `<span class=nosto_customer>`, `<div class='nosto_page_type'>`, `<b class=nosto_variation>`,
		`<div class="line_item">`, `<span class=product_id>`, `<span class=quantity>`, `<span class=unit_price>`,
		`<span class=email>`, "A1", "2", "1.5", "a@b", "cart", "EUR", "nosto_", "class=", `class="`, "<a title='>' ", `data-x="<div class=nosto_cart>"`,
		"<div\nclass=nosto_cart>", "<DIV CLASS=NOSTO_CART>", "<DIV CLASS=nosto_cart>", "<plaintext>",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		b.Reset()
		for range 1 + rng.IntN(60) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		src := []byte(b.String())
		checkSameAsFull(t, "random page "+strconv.Itoa(i)+" "+strconv.Quote(b.String()), src, rng.IntN(len(src)+1))
	}
}

func BenchmarkParseBench7KiBFullWalk(b *testing.B) {
	benchParse(b, "../../bench/www/page-7k.html", true)
}
func BenchmarkParseBench7KiB(b *testing.B) { benchParse(b, "../../bench/www/page-7k.html", false) }

func benchParse(b *testing.B, file string, noSkim bool) {
	page, err := os.ReadFile(file)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	p := parser{noSkim: noSkim}
	for b.Loop() {
		p.parse(page, false, unknownFirst)
	}
}

func TestAppendUnescaped(t *testing.T) {
	for _, s := range []string{
		"", "plain", "&", "&&", "&amp", "&amp;", "&amp;amp;", "&ampx;", "&AMP;", "&nbsp;x&nbsp", "&quot;&lt;&gt;&apos;",
		"&#39;", "&#039;", "&#0039;", "&#39", "&#;", "&#x27;", "&#0;", "&#31;", "&#32;", "&#126;", "&#127;", "&#128;", "&#150;",
		"&#9;", "&#99999999999;", "Men&#39;s &amp; Tie&euro;", "a&#39;b&euro;c&amp;d", "&lt&gt;", "&#39;&", "x&#",
	} {
		if got, want := string(appendUnescaped([]byte("pre"), []byte(s))), "pre"+html.UnescapeString(s); got != want {
			t.Errorf("appendUnescaped(%q) = %q, want %q", s, got, want)
		}
	}
}

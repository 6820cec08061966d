package jsonmap

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `null`, `true`, `false`, `nul`, `truex`, `0`, `-0`, `01`, `-`, `1.`, `.5`,
	`1.5e10`, `1E+2`, `1e-`, `1e`, `-01`, `2.0e`, `"a"`, `"a`, `"\"`, `"\\"`, `"\u00e9"`, `"\u00g9"`, `"\x"`,
	"\"\x01\"", "\"\t\"", "\"\xff\xfe\"", `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`,
	`{"a":[1,{"b":null}],"c":"d"}`, ` [1 , 2 ] `, `[1] [2]`, `{"a":1}}`, `[[[]]]`, `[[[]]`, `"\/\b\f\n\r\t"`,
	"\u00a0{}", `{"":""}`, `[-]`, `[1e5,-2.5E-3,0.0]`, `[tru]`, `[nulll]`,
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	cases := append(validCases,
		strings.Repeat("[", maxDepth)+strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1)+strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth)+"1"+strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1)+"1"+strings.Repeat("}", maxDepth+1))
	for _, c := range cases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%.40q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := valid(doc), json.Valid(doc); got != want {
			t.Fatalf("valid = %v, encoding/json says %v", got, want)
		}
	})
}

// valueEnd returns the index just past the value starting at b[i], as
// gjson's ForEach, which walks the items array and each line, ends it.
// (Our own scanner's valueEnd is gone; the cases below still hold.)
func valueEnd(b []byte, i int) int {
	end := -1
	gjson.Parse("[" + string(b[i:])).ForEach(func(_, v gjson.Result) bool {
		end = i + v.Index - 1 + len(v.Raw) // -1: the "[" added
		return false
	})
	return end
}

func TestValueEnd(t *testing.T) {
	for _, c := range []struct{ doc, value string }{
		{`"a\"b",1`, `"a\"b"`},
		{`"a\\",1`, `"a\\"`},
		{`"` + strings.Repeat(`x\\`, 20) + `\"q",1`, `"` + strings.Repeat(`x\\`, 20) + `\"q"`},
		{`"` + strings.Repeat("y", 40) + `\\\"z\\"]`, `"` + strings.Repeat("y", 40) + `\\\"z\\"`},
		{`{"a":"}","b":["]"]} x`, `{"a":"}","b":["]"]}`},
		{`-1.5e3]`, `-1.5e3`},
		{`true }`, `true`},
	} {
		if got := c.doc[:valueEnd([]byte(c.doc), 0)]; got != c.value {
			t.Errorf("valueEnd(%q) ends at %q, want %q", c.doc, got, c.value)
		}
	}
}

func TestLookup(t *testing.T) {
	doc := []byte(`{"a":{"b.c":[10,{"d":"x"}],"n":null,"e":""},"a":{"dup":1},"0":"zero","k\"q":"quoted","x,y":2}`)
	for _, c := range []struct{ path, want, alt string }{
		{`a.b\.c.0`, `10`, `a.b\.c.0`},
		{`a.b\.c.1.d`, `"x"`, `a.b\.c.1.d`},
		{`a.b\.c.2`, ``, `a.b\.c.2`},
		{`a.dup`, ``, `a.dup`}, // the first "a" wins (gjson.Get would find the second: TestGjsonDuplicateKeys)
		{`0`, `"zero"`, `0`},
		{`k"q`, `"quoted"`, `k"q`},
		{`x\,y`, `2`, `x\,y`},
		{`a.n,a.e,0`, `"zero"`, `0`},
		{`a.n,a.e`, ``, `a.n`},
		{`a.b\.c.d`, ``, `a.b\.c.d`},
	} {
		val, alt, found := lookup(doc, c.path)
		if string(val) != c.want || alt != c.alt || found != (c.want != "") {
			t.Errorf("lookup(%q) = %q %q %v, want %q %q", c.path, val, alt, found, c.want, c.alt)
		}
	}
}

// TestGjsonDuplicateKeys pins down what gjson does with duplicate keys,
// which is why get walks a path one gjson.Get per key.
func TestGjsonDuplicateKeys(t *testing.T) {
	doc := `{"a":{"b":1},"a":{"dup":2},"k":"first","k":"second"}`
	if got := gjson.Get(doc, "k").Raw; got != `"first"` {
		t.Errorf(`gjson "k" = %s: the first of duplicate keys no longer wins`, got)
	}
	if got := gjson.Get(doc, "a.dup").Raw; got != "2" {
		t.Errorf(`gjson "a.dup" = %q: it used to go on to the second "a"`, got)
	}
	if val, _, found := lookup([]byte(doc), "a.dup"); found {
		t.Errorf(`lookup "a.dup" = %s, want none: the first "a" wins`, val)
	}
	if val, _, _ := lookup([]byte(doc), "k"); string(val) != `"first"` {
		t.Errorf(`lookup "k" = %s`, val)
	}
}

// TestValidDepth covers the depth check that gjson lacks: brackets inside
// strings do not count, and a long run of "[" is refused without the
// recursion that would overflow the stack (fatal) in gjson.Valid alone.
func TestValidDepth(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1)
	for _, c := range []string{
		`["` + deep + deep + `"]`, // long enough to be walked
		`["\"` + deep + `\\", "\"]", {"` + deep + `": 1}]`,
		`[` + strings.Repeat(`"[",`, maxDepth) + `1]`,
		deep + `1` + strings.Repeat("]", maxDepth+1),
		strings.Repeat("[", 8<<20),
		strings.Repeat(`{"a":`, 2<<20),
	} {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%.40q…) = %v, encoding/json says %v", c, got, want)
		}
	}
}

// findPaths exercises the finder's alternatives, nesting and escapes.
var findPaths = []string{"a", "b.c,b", "x,y,z", `k\.k`, "n.0", "c,c", "", "d.e.f"}

func checkFinder(t *testing.T, doc []byte) {
	f := newFinder(findPaths)
	var hits [maxQueries]hit
	f.find(doc, hits[:]) // it no longer returns the length it read: ForEach ends lines
	for q, p := range findPaths {
		val, alt, found := lookup(doc, p)
		if h := hits[q]; string(h.val) != string(val) || h.alt != alt || h.found != found {
			t.Fatalf("path %q: find %q %q %v, lookup %q %q %v", p, h.val, h.alt, h.found, val, alt, found)
		}
	}
}

func TestFindMatchesLookup(t *testing.T) {
	for _, doc := range []string{
		`{"a":1,"b":{"c":null},"b":2,"z":3,"y":"","k.k":4,"n":[5],"c":6,"d":{"e":{"f":[]}}}`,
		`{"a":null,"a":1,"x":null,"y":2,"b":{"c":"v"},"k\u002ek":7}`,
		`[1,2]`, `"s"`, `{}`,
	} {
		checkFinder(t, []byte(doc))
	}
}

func FuzzFind(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":null},"b":2,"z":3,"y":"","k.k":4,"n":[5],"c":6,"d":{"e":{"f":[]}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if doc = trimValue(doc); !valid(doc) {
			return
		}
		checkFinder(t, doc)
	})
}

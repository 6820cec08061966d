package tagging

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// scriptEnd jumps between the characters that matter; these tests hold it
// to a plain transcription of the spec's script data states, one
// character at a time ("Script data state" to "Script data double escape
// end state" in the WHATWG tokenization section). x/net/html cannot serve:
// it leaves the escaped state early (xnet_test.go).

// Script data states.
const (
	sData = iota
	sLT
	sEndOpen
	sEndName
	sEscStart
	sEscStartDash
	sEsc
	sEscDash
	sEscDashDash
	sEscLT
	sEscEndOpen
	sEscEndName
	sDoubleStart
	sDouble
	sDoubleDash
	sDoubleDashDash
	sDoubleLT
	sDoubleEnd
)

type specScript struct {
	state int
	buf   []byte // the spec's temporary buffer, lowercased
	tagAt int    // where the '<' of a possible end tag is
}

// specScriptEnd returns the index of the end tag that ends the script
// content src, or len(src).
func specScriptEnd(src []byte) int {
	m := specScript{}
	for i := 0; i <= len(src); i++ {
		c := -1 // end of input
		if i < len(src) {
			c = int(src[i])
		}
		var end int
		var again bool
		switch {
		case m.state <= sEscStartDash:
			end, again = m.data(c, i)
		case m.state <= sDoubleStart:
			end, again = m.escaped(c, i)
		default:
			end, again = m.double(c, i)
		}
		if end >= 0 {
			return end
		}
		if again { // reconsume in the new state
			i--
		}
	}
	return len(src)
}

func alpha(c int) bool { return c >= 0 && isAlpha(byte(c)) }

// nameEnd is whitespace, '/' or '>': where the spec checks the buffer.
func nameEnd(c int) bool { return c >= 0 && isNameEnd[c] }

// to switches to state s and asks for c to be consumed again there.
func (m *specScript) to(s int) (int, bool) {
	m.state = s
	return -1, true
}

func (m *specScript) data(c, i int) (int, bool) {
	switch st := m.state; {
	case st == sData && c < 0:
		return i, false
	case st == sData && c == '<':
		m.state, m.tagAt = sLT, i
	case st == sLT && c == '/':
		m.state, m.buf = sEndOpen, m.buf[:0]
	case st == sLT && c == '!':
		m.state = sEscStart
	case st == sEndOpen && alpha(c):
		return m.to(sEndName)
	case st == sEndName && alpha(c):
		m.buf = append(m.buf, byte(c)|0x20)
	case st == sEndName && nameEnd(c) && string(m.buf) == "script":
		return m.tagAt, false
	case st == sEscStart && c == '-':
		m.state = sEscStartDash
	case st == sEscStartDash && c == '-':
		m.state = sEscDashDash
	case st != sData:
		return m.to(sData)
	}
	return -1, false
}

func (m *specScript) escaped(c, i int) (int, bool) {
	switch st := m.state; {
	case st <= sEscDashDash && c < 0:
		return i, false
	case st <= sEscDashDash && c == '-':
		m.state = min(st+1, sEscDashDash)
	case st <= sEscDashDash && c == '<':
		m.state, m.tagAt = sEscLT, i
	case st == sEscDashDash && c == '>':
		m.state = sData
	case st <= sEscDashDash:
		m.state = sEsc
	case st == sEscLT && c == '/':
		m.state, m.buf = sEscEndOpen, m.buf[:0]
	case st == sEscLT && alpha(c):
		m.buf = m.buf[:0]
		return m.to(sDoubleStart)
	case st == sEscEndOpen && alpha(c):
		return m.to(sEscEndName)
	case (st == sEscEndName || st == sDoubleStart) && alpha(c):
		m.buf = append(m.buf, byte(c)|0x20)
	case st == sEscEndName && nameEnd(c) && string(m.buf) == "script":
		return m.tagAt, false
	case st == sDoubleStart && nameEnd(c) && string(m.buf) == "script":
		m.state = sDouble
	case st == sDoubleStart && nameEnd(c):
		m.state = sEsc
	default: // includes the escaped less-than sign state's "anything else"
		return m.to(sEsc)
	}
	return -1, false
}

func (m *specScript) double(c, i int) (int, bool) {
	switch st := m.state; {
	case st <= sDoubleDashDash && c < 0:
		return i, false
	case st <= sDoubleDashDash && c == '-':
		m.state = min(st+1, sDoubleDashDash)
	case st <= sDoubleDashDash && c == '<':
		m.state = sDoubleLT
	case st == sDoubleDashDash && c == '>':
		m.state = sData
	case st <= sDoubleDashDash:
		m.state = sDouble
	case st == sDoubleLT && c == '/':
		m.state, m.buf = sDoubleEnd, m.buf[:0]
	case st == sDoubleEnd && alpha(c):
		m.buf = append(m.buf, byte(c)|0x20)
	case st == sDoubleEnd && nameEnd(c) && string(m.buf) == "script":
		m.state = sEsc
	case st == sDoubleEnd && nameEnd(c):
		m.state = sDouble
	default:
		return m.to(sDouble)
	}
	return -1, false
}

func checkScriptEnd(t *testing.T, src []byte) {
	t.Helper()
	if got, want := scriptEnd(src, 0), specScriptEnd(src); got != want {
		t.Fatalf("scriptEnd(%q) = %d, the spec's states end at %d", src, got, want)
	}
}

// FuzzScriptEnd starts from every page the tests have, read as script
// content from its start.
func FuzzScriptEnd(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkScriptEnd(t, src)
	})
}

func TestScriptEndRandom(t *testing.T) {
	parts := []string{
		"<!--", "<!-", "<!", "-->", "--!>", "->", "--", "-", "<", "<<", ">", "/", "!", " ", "\n", "x", "\\",
		"<script>", "<script", "</script>", "</script", "<SCRIPT ", "</ScRiPt\t", "<script/", "</script/",
		"<scripts>", "</scriptx>", "<scrip>", "</scr", "script", "<div>", "</div>", "<\\/script>",
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	n := 50000
	if testing.Short() {
		n = 10000
	}
	for range n {
		b.Reset()
		for range 1 + rng.IntN(20) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		checkScriptEnd(t, []byte(b.String()))
	}
}

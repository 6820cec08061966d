package delivery

import (
	"html"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decoded is a text with its escapes decoded, twice: as the characters
// they stand for (exact) and case-folded with + read as a space (fold,
// since a query string writes a space as +). at maps each byte of either
// back to where its character starts in the text; a character ends where
// the next one starts.
type decoded struct {
	exact, fold     string
	exactAt, foldAt []int32
	n               int // the text's length
}

// decode reads s one character at a time: a JSON escape (\u0040 and
// surrogate pairs, \/ \" \\ \', \n and the like as a space), a
// percent-encoded character (all the bytes of one UTF-8 character), an
// HTML reference (&#64; &#x40;, ';' optional, or any named one) or a
// character as it is.
func decode(s string) *decoded {
	d := &decoded{n: len(s), exactAt: make([]int32, 0, len(s)), foldAt: make([]int32, 0, len(s))}
	var exact, fold strings.Builder
	exact.Grow(len(s))
	fold.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := decodeAt(s, i)
		exact.WriteRune(r)
		for range utf8.RuneLen(r) {
			d.exactAt = append(d.exactAt, int32(i))
		}
		f := unicode.ToLower(r)
		if f == '+' {
			f = ' '
		}
		fold.WriteRune(f)
		for range utf8.RuneLen(f) {
			d.foldAt = append(d.foldAt, int32(i))
		}
		i += size
	}
	d.exact, d.fold = exact.String(), fold.String()
	return d
}

// decodeAt decodes the character at s[i:] and says how many bytes of s it
// took.
func decodeAt(s string, i int) (rune, int) {
	switch s[i] {
	case '\\':
		if r, n := jsonEscapeAt(s[i:]); n > 0 {
			return r, n
		}
	case '%':
		if r, n := percentAt(s[i:]); n > 0 {
			return r, n
		}
	case '&':
		if r, n := htmlRefAt(s[i:]); n > 0 {
			return r, n
		}
	}
	return utf8.DecodeRuneInString(s[i:])
}

func jsonEscapeAt(s string) (rune, int) {
	if len(s) < 2 {
		return 0, 0
	}
	switch s[1] {
	case '/', '"', '\\', '\'':
		return rune(s[1]), 2
	case 'b', 'f', 'n', 'r', 't':
		return ' ', 2
	case 'u':
		r, ok := hex4(s[2:])
		if !ok {
			return 0, 0
		}
		if utf16.IsSurrogate(r) && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if lo, ok := hex4(s[8:]); ok {
				if p := utf16.DecodeRune(r, lo); p != utf8.RuneError {
					return p, 12
				}
			}
		}
		return r, 6
	}
	return 0, 0
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:4], 16, 32)
	return rune(n), err == nil
}

// percentAt decodes the %XX bytes of one UTF-8 character.
func percentAt(s string) (rune, int) {
	var b []byte
	for k := 0; k+3 <= len(s) && s[k] == '%' && len(b) < utf8.UTFMax; k += 3 {
		c, err := strconv.ParseUint(s[k+1:k+3], 16, 8)
		if err != nil {
			break
		}
		b = append(b, byte(c))
		if r, size := utf8.DecodeRune(b); r != utf8.RuneError || size > 1 {
			return r, k + 3
		}
	}
	return 0, 0
}

// htmlRefAt decodes a numeric reference (the ';' optional, as browsers
// read it) or a named one.
func htmlRefAt(s string) (rune, int) {
	if strings.HasPrefix(s, "&#") {
		base, k := 10, 2
		if len(s) > 2 && (s[2] == 'x' || s[2] == 'X') {
			base, k = 16, 3
		}
		j := k
		for j < len(s) && j-k < 8 && isDigitIn(s[j], base) {
			j++
		}
		n, err := strconv.ParseUint(s[k:j], base, 32)
		if err != nil || !utf8.ValidRune(rune(n)) {
			return 0, 0
		}
		if j < len(s) && s[j] == ';' {
			j++
		}
		return rune(n), j
	}
	end := strings.IndexByte(s[:min(len(s), 40)], ';')
	if end < 2 {
		return 0, 0
	}
	// Every HTML5 name (&commat;, &eacute;), as browsers know them.
	u := html.UnescapeString(s[:end+1])
	r, size := utf8.DecodeRuneInString(u)
	if u == s[:end+1] || size != len(u) {
		return 0, 0
	}
	return r, end + 1
}

func isDigitIn(c byte, base int) bool {
	if c >= '0' && c <= '9' {
		return true
	}
	c |= 0x20
	return base == 16 && c >= 'a' && c <= 'f'
}

// span is a part of the text to blank, [start, end).
type span struct{ start, end int }

// redactText blanks in s every match of the needles, and the start of a
// needle s breaks off in.
func redactText(s string, needles []needle) string {
	if len(needles) == 0 {
		return s
	}
	d := decode(s)
	var spans []span
	for _, n := range needles {
		spans = d.find(n, spans)
	}
	if sp, ok := d.brokenOff(s, needles); ok {
		spans = append(spans, sp)
	}
	return blank(s, spans)
}

// find appends the spans of s where n stands as it requires.
func (d *decoded) find(n needle, spans []span) []span {
	hay, at := d.fold, d.foldAt
	if n.exact {
		hay, at = d.exact, d.exactAt
	}
	for from := 0; from < len(hay); {
		k := strings.Index(hay[from:], n.text)
		if k < 0 {
			break
		}
		i, j := from+k, from+k+len(n.text)
		if (!n.aloneStart || !alnumBefore(hay[:i])) && (!n.aloneEnd || !alnumAfter(hay[j:])) {
			spans = append(spans, span{int(at[i]), d.offset(at, j)})
			from = j
			continue
		}
		_, size := utf8.DecodeRuneInString(hay[i:])
		from = i + size
	}
	return spans
}

// offset is where the character at byte j of a decoded text starts in the
// text (its length at the end).
func (d *decoded) offset(at []int32, j int) int {
	if j >= len(at) {
		return d.n
	}
	return int(at[j])
}

func alnumBefore(s string) bool {
	r, size := utf8.DecodeLastRuneInString(s)
	return size > 0 && isAlnum(r)
}

func alnumAfter(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return size > 0 && isAlnum(r)
}

// brokenOff finds where s ends with the start (three characters or more)
// of a needle: the answer, or the window, broke off inside it. An escape
// cut short at the very end ("%4", "\u00", "&#6") is part of the break.
func (d *decoded) brokenOff(s string, needles []needle) (span, bool) {
	tail := partialEscape(s)
	best := span{start: len(s), end: len(s)}
	for _, exact := range []bool{false, true} {
		hay, at := d.fold, d.foldAt
		if exact {
			hay, at = d.exact, d.exactAt
		}
		// The decoded text before the cut escape.
		c, _ := slices.BinarySearch(at, int32(len(s)-tail))
		hay = hay[:c]
		for _, n := range needles {
			if !n.partial || n.exact != exact {
				continue
			}
			last := len(hay) - 1
			for k := min(len(n.text)-1, len(hay)); k >= shortValue; k-- {
				if n.text[k-1] == hay[last] && utf8.RuneStart(n.text[k]) && strings.HasSuffix(hay, n.text[:k]) {
					best.start = min(best.start, int(at[len(hay)-k]))
					break
				}
			}
		}
	}
	return best, best.start < len(s)
}

// partialEscape is the length of an escape s ends in the middle of.
func partialEscape(s string) int {
	for k := 1; k <= 9 && k <= len(s); k++ {
		t := s[len(s)-k:]
		switch {
		case t == "%" || len(t) == 2 && t[0] == '%' && isDigitIn(t[1], 16):
			return k
		case t[0] == '\\' && (k == 1 || t[1] == 'u' && k < 6 && hexOnly(t[2:])):
			return k
		case strings.HasPrefix(t, "&#") && !strings.Contains(t, ";") && (hexOnly(t[2:]) || t[2:3] == "x" && hexOnly(t[3:])):
			return k
		}
	}
	return 0
}

func hexOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigitIn(s[i], 16) {
			return false
		}
	}
	return true
}

// blank replaces the spans of s, merged where they overlap, with
// "[redacted]".
func blank(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && spans[i].start <= cur.end; i++ {
			cur.end = max(cur.end, spans[i].end)
		}
		b.WriteString(s[last:cur.start])
		b.WriteString(redacted)
		last = cur.end
	}
	b.WriteString(s[last:])
	return b.String()
}

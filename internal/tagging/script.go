package tagging

import "bytes"

// Script content follows the script data states of the HTML spec, not
// just "up to </script": legacy pages wrap inline scripts in "<!-- … -->"
// and write <script> tags from them, and a browser keeps all of that as
// script text. After "<!--" (the escaped state) a "<script" opens the
// double-escaped state, whose "</script" only returns to the escaped
// state, so it does not end the element; "-->" returns to plain script
// data from either state.

var escapeEnd = []byte("-->")

// scriptEnd returns the index of the "</script" that ends a script's
// content from k, or len(src) when none does.
func scriptEnd(src []byte, k int) int {
	// One pass from '<' to '<': in plain script data only "</script" and
	// "<!--" matter, and both start there.
	for {
		i := bytes.IndexByte(src[k:], '<')
		if i < 0 || k+i+1 >= len(src) {
			return len(src)
		}
		k += i + 1
		switch src[k] {
		case '/':
			if scriptNameAt(src, k+1) {
				return k - 1
			}
		case '!':
			if k+2 < len(src) && src[k+1] == '-' && src[k+2] == '-' {
				var done bool
				if k, done = escaped(src, k+3); done {
					return k
				}
			}
		}
	}
}

// escaped walks the escaped and double-escaped states from k, just after
// a "<!--". It returns where plain script data resumes (after a "-->"),
// or, with done, the index of the end tag or len(src).
//
// In both states every "-->" returns to script data and every '<' may
// start a tag name, since no other construct consumes those characters;
// so the walk jumps from '<' to '<', looking for "-->" between them. Each
// byte is searched once, however the page nests them.
func escaped(src []byte, k int) (next int, done bool) {
	// "<!-->" and "<!--->": the dashes of "<!--" end it at once.
	for k < len(src) && src[k] == '-' {
		k++
	}
	if k < len(src) && src[k] == '>' {
		return k + 1, false
	}
	double := false
	for {
		seg := src[k:]
		lt := bytes.IndexByte(seg, '<')
		if lt >= 0 {
			seg = seg[:lt]
		}
		if a := bytes.Index(seg, escapeEnd); a >= 0 {
			return k + a + len(escapeEnd), false
		}
		if lt < 0 {
			return len(src), true
		}
		k += lt
		switch {
		case k+1 < len(src) && src[k+1] == '/' && scriptNameAt(src, k+2):
			if !double {
				return k, true
			}
			double = false
			k += len("</script") + 1 // the character after the name too
		case !double && scriptNameAt(src, k+1):
			double = true
			k += len("<script") + 1
		default:
			k++
		}
	}
}

// scriptNameAt reports whether "script" (any case) starts at j and is
// followed by whitespace, '/' or '>'. A name cut by the end of the page is
// not one: the spec keeps such a tail as script text.
func scriptNameAt(src []byte, j int) bool {
	return j+len("script") < len(src) && equalFold(src[j:j+len("script")], "script") &&
		isNameEnd[src[j+len("script")]]
}

// Package strictjson refuses JSON whose meaning depends on the parser:
// duplicate object keys (encoding/json keeps the last, others the first),
// bytes that are not UTF-8 and escapes of lone surrogates (encoding/json
// turns both into U+FFFD without a word). Bodies that sessiontap stores
// are checked with it before they are decoded, so that what is stored is
// what the sender meant, and every error names the field.
package strictjson

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting; our bodies are a few levels deep.
const MaxDepth = 64

// Error is a refusal, naming the field in the form the callers' error
// messages use: "cart.items[0].name", or "body" for the document.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// Check reports the first duplicate key, invalid UTF-8, lone surrogate or
// syntax error in data, or nil. Syntax errors are left to the decoder when
// the field is unknown; Check only promises that a document it accepts has
// no duplicate keys and only valid, escaped-or-raw UTF-8 strings.
func Check(data []byte) *Error {
	c := checker{data: data}
	c.skipSpace()
	if err := c.value("", 0); err != nil {
		return err
	}
	c.skipSpace()
	if c.pos != len(c.data) {
		return c.syntax()
	}
	return nil
}

type checker struct {
	data []byte
	pos  int
}

func (c *checker) fail(path, msg string) *Error {
	if path == "" {
		path = "body"
	}
	return &Error{Field: path, Msg: msg}
}

// syntax is the error for JSON that does not parse: it names the body, as
// a decoder's syntax error would, not the field it happened in.
func (c *checker) syntax() *Error { return &Error{Field: "body", Msg: "invalid JSON"} }

func (c *checker) skipSpace() {
	for c.pos < len(c.data) {
		switch c.data[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *checker) value(path string, depth int) *Error {
	if depth > MaxDepth {
		return c.fail(path, "nested too deeply")
	}
	if c.pos >= len(c.data) {
		return c.syntax()
	}
	switch c.data[c.pos] {
	case '{':
		return c.object(path, depth)
	case '[':
		return c.array(path, depth)
	case '"':
		_, err := c.str(path)
		return err
	}
	// A number or literal: what ends it is the decoder's to judge.
	for c.pos < len(c.data) && bytes.IndexByte([]byte(",]} \t\n\r"), c.data[c.pos]) < 0 {
		if c.data[c.pos] >= utf8.RuneSelf {
			return c.syntax()
		}
		c.pos++
	}
	return nil
}

func (c *checker) object(path string, depth int) *Error {
	c.pos++ // {
	var keys map[string]bool
	for first := true; ; first = false {
		c.skipSpace()
		if c.pos < len(c.data) && c.data[c.pos] == '}' && first {
			c.pos++
			return nil
		}
		if c.pos >= len(c.data) || c.data[c.pos] != '"' {
			return c.syntax()
		}
		key, err := c.str(path)
		if err != nil {
			return err
		}
		at := join(path, key)
		if keys == nil {
			keys = map[string]bool{}
		}
		if keys[key] {
			return c.fail(at, "appears more than once")
		}
		keys[key] = true
		c.skipSpace()
		if c.pos >= len(c.data) || c.data[c.pos] != ':' {
			return c.syntax()
		}
		c.pos++
		c.skipSpace()
		if err := c.value(at, depth+1); err != nil {
			return err
		}
		c.skipSpace()
		if c.pos < len(c.data) && c.data[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.pos < len(c.data) && c.data[c.pos] == '}' {
			c.pos++
			return nil
		}
		return c.syntax()
	}
}

func (c *checker) array(path string, depth int) *Error {
	c.pos++ // [
	for i := 0; ; i++ {
		c.skipSpace()
		if c.pos < len(c.data) && c.data[c.pos] == ']' && i == 0 {
			c.pos++
			return nil
		}
		if err := c.value(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
			return err
		}
		c.skipSpace()
		if c.pos < len(c.data) && c.data[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.pos < len(c.data) && c.data[c.pos] == ']' {
			c.pos++
			return nil
		}
		return c.syntax()
	}
}

// str reads a string at c.pos and returns its decoded value: keys are
// compared decoded, so "a" and "\u0061" are the same key, as every parser
// sees them.
func (c *checker) str(path string) (string, *Error) {
	c.pos++ // "
	var out []byte
	start := c.pos
	for c.pos < len(c.data) {
		b := c.data[c.pos]
		switch {
		case b == '"':
			out = append(out, c.data[start:c.pos]...)
			c.pos++
			return string(out), nil
		case b == '\\':
			out = append(out, c.data[start:c.pos]...)
			var err *Error
			if out, err = c.escape(path, out); err != nil {
				return "", err
			}
			start = c.pos
		case b < ' ':
			return "", c.syntax()
		case b < utf8.RuneSelf:
			c.pos++
		default:
			r, n := utf8.DecodeRune(c.data[c.pos:])
			if r == utf8.RuneError && n == 1 {
				return "", c.fail(path, "is not valid UTF-8")
			}
			c.pos += n
		}
	}
	return "", c.syntax()
}

// escape decodes the escape at c.pos onto out.
func (c *checker) escape(path string, out []byte) ([]byte, *Error) {
	if c.pos+1 >= len(c.data) {
		return nil, c.syntax()
	}
	e := c.data[c.pos+1]
	c.pos += 2
	if e != 'u' {
		if i := bytes.IndexByte([]byte(`"\/bfnrt`), e); i >= 0 {
			return append(out, "\"\\/\b\f\n\r\t"[i]), nil
		}
		return nil, c.syntax()
	}
	r, ok := c.hex4()
	if !ok {
		return nil, c.syntax()
	}
	if utf16.IsSurrogate(r) {
		// Only a high surrogate followed by an escaped low one is a character.
		if r >= 0xdc00 || c.pos+1 >= len(c.data) || c.data[c.pos] != '\\' || c.data[c.pos+1] != 'u' {
			return nil, c.fail(path, "is not valid UTF-8 (a lone surrogate)")
		}
		c.pos += 2
		lo, ok := c.hex4()
		if r = utf16.DecodeRune(r, lo); !ok || r == utf8.RuneError {
			return nil, c.fail(path, "is not valid UTF-8 (a lone surrogate)")
		}
	}
	return utf8.AppendRune(out, r), nil
}

func (c *checker) hex4() (rune, bool) {
	if c.pos+4 > len(c.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(c.data[c.pos:c.pos+4]), 16, 32)
	c.pos += 4
	return rune(n), err == nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

package model

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
)

// idBytes is the entropy of our own ids: 128 bits.
const idBytes = 16

// ownIDLen is the length of an own id in unpadded base64url.
var ownIDLen = base64.RawURLEncoding.EncodedLen(idBytes)

// NewID returns a fresh session id of ours: 128 random bits, base64url.
func NewID() string {
	var b [idBytes]byte
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CookieValue is our cookie's value for session id issued on day (days
// since the Unix epoch, UTC): "<id>.<day, base 36>". The day lets the
// visitor's path re-set the cookie at most once a day without a store read.
func CookieValue(id string, day int64) string {
	return id + "." + strconv.FormatInt(day, 36)
}

// ParseCookieValue splits our cookie's value, "<id>.<stamp>" with or
// without the ".<mac>" the visitor's path signs it with, into the session
// id and the day it was issued; ok is false for anything else. It does not
// check the mac: whoever holds the value of a cookie we issued may name
// its session to an operator, but only the visitor's path, which verifies
// the mac, lets a cookie pick a visitor's session.
func ParseCookieValue(v string) (id string, day int64, ok bool) {
	id, stamp, found := strings.Cut(v, ".")
	if i := strings.IndexByte(stamp, '.'); i >= 0 {
		stamp = stamp[:i]
	}
	if !found || len(id) != ownIDLen || !isBase64URL(id) {
		return "", 0, false
	}
	day, err := strconv.ParseInt(stamp, 36, 64)
	if err != nil || day < 0 {
		return "", 0, false
	}
	return id, day, true
}

// OperatorID is the session an operator means by v: our cookie's value
// "<id>.<stamp>[.<mac>]", as a browser's developer tools show it, names the session
// <id>; any other value is a session id as it is. Our own ids never contain
// '.', so the two cannot be confused for them; an external id shaped exactly
// like our cookie (22 base64url characters, '.', a base-36 day) would be
// read as ours.
func OperatorID(v string) string {
	if id, _, ok := ParseCookieValue(v); ok {
		return id
	}
	return v
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// pseudonymBytes is how much of the HMAC a pseudonym keeps: 192 bits.
// Its base64url form is 32 characters, a length our own ids never have,
// so a pseudonym that comes back as an id is never taken for one of ours.
const pseudonymBytes = 24

// Pseudonyms replaces our own session ids with stable pseudonyms before
// they leave the process. Our session id is the key to a visitor's
// session (it is what our cookie holds): a third party that got it could
// present it as the visitor. A pseudonym is an HMAC of it, stable per
// session, from which the id cannot be found.
//
// External ids (a shop's session id, Nosto's 2c.cId) are not ours to
// hide: their owner issued them, and the sink needs them as they are.
// Which ids are ours is decided by their shape (model.IsOwnID).
type Pseudonyms struct{ key []byte }

// NewPseudonyms returns Pseudonyms under key. A nil *Pseudonyms works as
// one with an empty key: still not reversible, since our ids are 128
// random bits, but anyone who holds an id can compute its pseudonym.
func NewPseudonyms(key []byte) *Pseudonyms { return &Pseudonyms{key: key} }

// SessionID is what a sink sends for session id: the pseudonym of one of
// our own ids (Of), an external id as it is.
func (p *Pseudonyms) SessionID(id string) string {
	if !model.IsOwnID(id) {
		return id
	}
	return p.Of(id)
}

// Of is the pseudonym of any id, ours or not, "" for "": base64url of
// HMAC-SHA256(key, "session:" + id), cut to 192 bits. Logs use it for
// every id, since a shop's session id in a log is a credential too.
func (p *Pseudonyms) Of(id string) string {
	if id == "" {
		return ""
	}
	var key []byte
	if p != nil {
		key = p.key
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("session:"))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:pseudonymBytes])
}

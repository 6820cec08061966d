package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// TokenVerifier resolves the saas-token header of the session-context API
// (a customer access token) to the customer it was issued to. It returns an
// error for a token it does not accept (malformed, forged, expired,
// unknown); the API then answers 403.
type TokenVerifier interface {
	CustomerID(ctx context.Context, token string) (string, error)
}

// ErrInvalidToken is what the verifiers here return for a token they do not
// accept. The reason is deliberately not told apart.
var ErrInvalidToken = errors.New("invalid saas-token")

// HMACVerifier accepts tokens of the form
//
//	<customerId>.<expiry>.<mac>
//
// where expiry is a Unix time in seconds and mac is the hex HMAC-SHA256
// (SignHMACToken writes lowercase; either case is accepted), under the
// shared key, of "<customerId>.<expiry>". The
// customer id may itself contain dots (the token is split from the right).
// A token is valid until, not at, its expiry second.
type HMACVerifier struct {
	key []byte
	now func() time.Time
}

// NewHMACVerifier returns a verifier for tokens signed with key. An empty
// key (an unset environment variable) is refused: it would let anyone sign.
func NewHMACVerifier(key []byte) (*HMACVerifier, error) {
	if len(key) == 0 {
		return nil, errors.New("saas_token hmac: empty key")
	}
	return &HMACVerifier{key: append([]byte(nil), key...), now: time.Now}, nil
}

// maxTokenLength bounds what is parsed and hashed.
const maxTokenLength = 1024

// CustomerID implements TokenVerifier.
func (v *HMACVerifier) CustomerID(_ context.Context, token string) (string, error) {
	if len(token) > maxTokenLength {
		return "", ErrInvalidToken
	}
	payload, mac, ok := cutLast(token, '.')
	if !ok {
		return "", ErrInvalidToken
	}
	customer, expiry, ok := cutLast(payload, '.')
	if !ok || customer == "" {
		return "", ErrInvalidToken
	}
	got, err := hex.DecodeString(mac)
	if err != nil || len(got) != sha256.Size {
		return "", ErrInvalidToken
	}
	if !hmac.Equal(got, v.mac(payload)) {
		return "", ErrInvalidToken
	}
	// Checked after the MAC so that only our own expiry strings are parsed.
	exp, err := strconv.ParseInt(expiry, 10, 64)
	if err != nil || v.now().Unix() >= exp {
		return "", ErrInvalidToken
	}
	return customer, nil
}

func (v *HMACVerifier) mac(payload string) []byte {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// SignHMACToken returns a token HMACVerifier accepts for customerID until
// expiry, for issuers, tests and demos.
func SignHMACToken(key []byte, customerID string, expiry time.Time) string {
	payload := customerID + "." + strconv.FormatInt(expiry.Unix(), 10)
	v := HMACVerifier{key: key}
	return payload + "." + hex.EncodeToString(v.mac(payload))
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// StaticVerifier accepts a fixed set of tokens, each for one customer. It is
// meant for tests and demos: tokens never expire.
type StaticVerifier struct {
	tokens    [][sha256.Size]byte
	customers []string
}

// NewStaticVerifier returns a verifier for tokens (token → customer id).
// Empty tokens and empty customer ids are ignored.
func NewStaticVerifier(tokens map[string]string) *StaticVerifier {
	v := &StaticVerifier{}
	for tok, customer := range tokens {
		if tok != "" && customer != "" {
			v.tokens = append(v.tokens, sha256.Sum256([]byte(tok)))
			v.customers = append(v.customers, customer)
		}
	}
	return v
}

// CustomerID implements TokenVerifier. Like the API keys, every token is
// compared, in constant time, whichever matches.
func (v *StaticVerifier) CustomerID(_ context.Context, token string) (string, error) {
	if token == "" {
		return "", ErrInvalidToken
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range v.tokens {
		if subtle.ConstantTimeCompare(sum[:], v.tokens[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", ErrInvalidToken
	}
	return v.customers[found], nil
}

// Interface guards
var (
	_ TokenVerifier = (*HMACVerifier)(nil)
	_ TokenVerifier = (*StaticVerifier)(nil)
)

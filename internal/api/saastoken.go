package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenVerifier resolves the saas-token header of the session-context API
// (a customer access token) to the customer it was issued to. It returns an
// error for a token it does not accept (malformed, forged, expired,
// unknown); the API then treats the request as carrying no token, which a
// context with an owner answers with 403.
type TokenVerifier interface {
	CustomerID(ctx context.Context, token string) (string, error)
}

// ErrInvalidToken is what the verifiers here return for a token they do not
// accept. The reason is deliberately not told apart.
var ErrInvalidToken = errors.New("invalid saas-token")

// HMACVerifier accepts the saas-tokens Emporix issues on a customer's
// login: compact JWS (JWT) tokens signed with HS256 under the shared
// secret, whose claims are "sub", the customer number, and "exp". The
// algorithm is pinned: a token whose header names any other ("none",
// RS256, HS384, …) is refused before its signature is looked at, so a
// token cannot choose how it is checked. "exp" is required (a token
// without one would never expire) and a token is valid until, not at, its
// exp second; an "nbf", when present, is checked too ("iat" is not:
// Emporix's tokens carry none). Tokens of the earlier home-made "<customerId>.<expiry>.<mac>" form
// are not JWTs and are refused.
type HMACVerifier struct {
	key    []byte
	now    func() time.Time
	parser *jwt.Parser
}

// NewHMACVerifier returns a verifier for tokens signed with key, the
// HS256 secret. An empty key (an unset environment variable) is refused:
// it would let anyone sign.
func NewHMACVerifier(key []byte) (*HMACVerifier, error) {
	if len(key) == 0 {
		return nil, errors.New("saas_token hmac: empty key")
	}
	v := &HMACVerifier{key: append([]byte(nil), key...), now: time.Now}
	// The time function is read on every Parse, so tests may swap now.
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

// maxTokenLength bounds what is parsed: Emporix's tokens, a subject and
// an expiry, are about 120 bytes.
const maxTokenLength = 2048

// CustomerID implements TokenVerifier: the token's "sub".
func (v *HMACVerifier) CustomerID(_ context.Context, token string) (string, error) {
	if token == "" || len(token) > maxTokenLength {
		return "", ErrInvalidToken
	}
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, v.keyFor)
	if err != nil || claims.Subject == "" {
		return "", ErrInvalidToken
	}
	return claims.Subject, nil
}

// keyFor hands out the secret only for HS256, whatever the parser's
// option says: the pin is checked twice because a key handed to another
// method's verifier is the classic JWT confusion.
func (v *HMACVerifier) keyFor(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodHS256 {
		return nil, ErrInvalidToken
	}
	return v.key, nil
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

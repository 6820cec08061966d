package handler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// MaxCustomerTokenLife bounds how far ahead a customer token may expire:
// the token rides in a page, so it should be short-lived.
const MaxCustomerTokenLife = time.Hour

// CustomerToken is the token a shop's backend renders into its page so
// that the customer the page posts to collect counts as verified:
// "v2.<expiry, Unix seconds>.<mac>", the mac an HMAC-SHA256 under key of
// "sessiontap customer v2\n<session>\n<reference>\n<email>\n<expiry>",
// base64url without padding. session is the id sessiontap handed the shop
// with the page's request ({sessiontap.id}): a token is good for that one
// session, so one copied from a cached page or a log verifies no one
// else's. It vouches for the reference and the email; the names and
// marketing permission posted with them are the account holder's own.
func CustomerToken(key []byte, session, reference, email string, expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	return "v2." + exp + "." + customerMAC(key, session, reference, email, exp)
}

func customerMAC(key []byte, session, reference, email, exp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("sessiontap customer v2\n" + session + "\n" + reference + "\n" + email + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyCustomerToken reports why token does not vouch for c at now, or
// "" when it does.
func verifyCustomerToken(key []byte, token, session string, c *model.Customer, now time.Time) string {
	if len(key) == 0 {
		return "no customer token key is configured (collect { customer_token hmac <key> })"
	}
	if c == nil || c.CustomerReference == "" {
		return "needs a customer with a customer_reference"
	}
	ver, rest, _ := strings.Cut(token, ".")
	exp, mac, ok := strings.Cut(rest, ".")
	if ver != "v2" || !ok {
		return `not a customer token ("v2.<expiry>.<mac>")`
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return `not a customer token ("v2.<expiry>.<mac>")`
	}
	if !hmac.Equal([]byte(mac), []byte(customerMAC(key, session, c.CustomerReference, c.Email, exp))) {
		return "does not match this session and the customer's reference and email"
	}
	switch at := time.Unix(secs, 0); {
	case !now.Before(at):
		return "has expired"
	case at.Sub(now) > MaxCustomerTokenLife:
		return "expires more than an hour ahead; render a short-lived token"
	}
	return ""
}

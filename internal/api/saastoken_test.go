package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// emporixToken mints a saas-token the way Emporix's customer login does:
// HS256, claims sub (the customer number) and exp.
func emporixToken(t *testing.T, key []byte, customer string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": customer, "exp": exp.Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgeToken builds a token with any header and claims whose signature is
// the HMAC-SHA256 of its first two parts under key: what a verifier that
// trusted the header's alg, or skipped it, would accept.
func forgeToken(header, claims string, key []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(m.Sum(nil))
}

func TestHMACVerifierTakesEmporixTokens(t *testing.T) {
	key := []byte("token-key")
	v, err := NewHMACVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v.now = func() time.Time { return now }
	later := now.Add(time.Hour)
	for _, customer := range []string{"36363331", "c-1", "a.b.c", "ünï"} {
		got, err := v.CustomerID(context.Background(), emporixToken(t, key, customer, later))
		if err != nil || got != customer {
			t.Errorf("%q: got %q, %v", customer, got, err)
		}
	}
	// Emporix's header is {"alg":"HS256"}, without "typ".
	exp := strconv.FormatInt(later.Unix(), 10)
	bare := forgeToken(`{"alg":"HS256"}`, `{"sub":"36363331","exp":`+exp+`}`, key)
	if got, err := v.CustomerID(context.Background(), bare); err != nil || got != "36363331" {
		t.Errorf("Emporix's own header: %q, %v", got, err)
	}
}

func TestHMACVerifierRefusesAttackTokens(t *testing.T) {
	key := []byte("token-key")
	v, err := NewHMACVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	v.now = func() time.Time { return now }
	for name, tok := range attackTokens(t, key, now) {
		if got, err := v.CustomerID(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted as %q", name, got)
		}
	}
	if _, err := NewHMACVerifier(nil); err == nil {
		t.Error("an empty HMAC key was accepted")
	}
}

// attackTokens are tokens for customer c-1 that must all be refused
// under key at now, each for one reason.
func attackTokens(t *testing.T, key []byte, now time.Time) map[string]string {
	later := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	claims := `{"sub":"c-1","exp":` + later + `}`
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "c-1", "exp": now.Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"sub": "c-1", "exp": now.Add(time.Hour).Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	good := emporixToken(t, key, "c-1", now.Add(time.Hour))
	return map[string]string{
		"alg none":           none,
		"alg none, our MAC":  forgeToken(`{"alg":"none"}`, claims, key),
		"wrong key":          emporixToken(t, []byte("other"), "c-1", now.Add(time.Hour)),
		"expired":            emporixToken(t, key, "c-1", now.Add(-time.Second)),
		"expires now":        emporixToken(t, key, "c-1", now),
		"no exp":             forgeToken(`{"alg":"HS256"}`, `{"sub":"c-1"}`, key),
		"not valid before":   forgeToken(`{"alg":"HS256"}`, `{"sub":"c-1","exp":`+later+`,"nbf":`+later+`}`, key),
		"exp not a number":   forgeToken(`{"alg":"HS256"}`, `{"sub":"c-1","exp":"soon"}`, key),
		"RS256 header":       forgeToken(`{"alg":"RS256","typ":"JWT"}`, claims, key),
		"HS384, right key":   hs384,
		"no sub":             forgeToken(`{"alg":"HS256"}`, `{"exp":`+later+`}`, key),
		"empty sub":          forgeToken(`{"alg":"HS256"}`, `{"sub":"","exp":`+later+`}`, key),
		"sub not a string":   forgeToken(`{"alg":"HS256"}`, `{"sub":36363331,"exp":`+later+`}`, key),
		"claims swapped":     good[:strings.IndexByte(good, '.')+1] + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"c-2","exp":`+later+`}`)) + good[strings.LastIndexByte(good, '.'):],
		"signature stripped": good[:strings.LastIndexByte(good, '.')+1],
		"home-made format":   oldFormatToken(key, "c-1", now.Add(time.Hour)),
		"empty":              "",
		"garbage":            "....",
		"too long":           emporixToken(t, key, strings.Repeat("x", maxTokenLength), now.Add(time.Hour)),
	}
}

// oldFormatToken is the "<customerId>.<expiry>.<hex mac>" token the API
// took before it took Emporix's.
func oldFormatToken(key []byte, customer string, exp time.Time) string {
	payload := customer + "." + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return payload + "." + hex.EncodeToString(m.Sum(nil))
}

func TestStaticVerifier(t *testing.T) {
	v := NewStaticVerifier(map[string]string{"tok-1": "c-1", "tok-2": "c-2", "": "c-3", "tok-4": ""})
	for tok, want := range map[string]string{"tok-1": "c-1", "tok-2": "c-2"} {
		if got, err := v.CustomerID(context.Background(), tok); err != nil || got != want {
			t.Errorf("%s: %q, %v", tok, got, err)
		}
	}
	for _, tok := range []string{"", "tok-3", "tok-4", "tok-1 "} {
		if got, err := v.CustomerID(context.Background(), tok); err == nil {
			t.Errorf("%q accepted as %q", tok, got)
		}
	}
}

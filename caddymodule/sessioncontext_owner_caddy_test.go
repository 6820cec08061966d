package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// The keys of saasSiteConfig: the shop's, which signs the customer tokens
// its pages post to collect (a verified login), and Emporix's HS256 secret.
const (
	shopKey = "the-shops-customer-token-key"
	saasKey = "the-emporix-saas-token-secret"
)

// saasSiteConfig is a site whose collect takes customer tokens and whose
// session-context API checks Emporix's saas-tokens.
func saasSiteConfig() string {
	return siteConfigWith(`
		collect /_sessiontap/collect {
			customer_token hmac `+shopKey+`
		}`, `respond "shop"`) + opsSite("", "\t\tsaas_token hmac "+saasKey)
}

// login posts a verified customer (the shop's customer token) for c's
// session: c's cookie then names the customer's session.
func login(t *testing.T, c *http.Client, ref, email string) {
	t.Helper()
	token := handler.CustomerToken([]byte(shopKey), visitorID(t, c), ref, email, time.Now().Add(time.Hour))
	res, body := postJSON(t, c, `{"customer":{"customer_reference":"`+ref+`","email":"`+email+`"},"customer_token":"`+token+`",`+
		`"cart":{"items":[{"product_id":"p1","quantity":1,"unit_price":5}]}}`)
	if res.StatusCode != 200 {
		t.Fatalf("login of %s: %d %s", ref, res.StatusCode, body)
	}
}

// sessionID is the id of the session c's cookie names.
func sessionID(t *testing.T, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if ck.Name == "sessiontap_id" {
			return model.OperatorID(ck.Value)
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// Mallory, a customer of the same shop with a genuine token of her own,
// creates a context naming herself on a visitor's anonymous session; the
// visitor then logs in as Alice. Mallory's token must not read Alice's
// session through that context (her email is in context.customer), and
// Alice's own token must open her session's context.
func TestMalloryCannotReadAlicesContext(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(saasSiteConfig(), "caddyfile")
	exp := time.Now().Add(time.Hour)
	alice, mallory := emporixToken(t, saasKey, "cust-alice", exp), emporixToken(t, saasKey, "cust-mallory", exp)

	visitor := rawClient(t)
	fetch(t, visitor, "GET", "http://localhost:9080/")
	planted := "/session-context/acme/context/" + sessionID(t, visitor)
	if code, body := (ctxCall{"PUT", planted + "?upsert=true", `{"metadata":{"version":0},"customerId":"cust-mallory"}`, mallory}).send(t); code != 204 {
		t.Fatalf("Mallory's context on an anonymous session: %d %s", code, body)
	}
	login(t, visitor, "cust-alice", "alice@example.com")
	ctx := "/session-context/acme/context/" + sessionID(t, visitor)

	// The login detached Mallory's context: it is nobody's now.
	for name, tok := range map[string]string{"Mallory": mallory, "Alice": alice} {
		code, body := ctxCall{"GET", ctx, "", tok}.send(t)
		if code != 404 || strings.Contains(string(body), "alice@") {
			t.Errorf("%s read the planted context: %d %s", name, code, body)
		}
	}
	// Mallory cannot plant one again on Alice's session, nor write hers.
	for _, body := range []string{`{"metadata":{"version":0},"customerId":"cust-mallory"}`, `{"metadata":{"version":0}}`} {
		if code, answer := (ctxCall{"PUT", ctx + "?upsert=true", body, mallory}).send(t); code != 403 {
			t.Errorf("Mallory created a context on Alice's session: %d %s", code, answer)
		}
	}
	if code, body := (ctxCall{"PUT", ctx + "?upsert=true", `{"metadata":{"version":0},"siteCode":"main"}`, alice}).send(t); code != 204 {
		t.Fatalf("Alice's context: %d %s", code, body)
	}
	code, body := ctxCall{"GET", ctx, "", alice}.send(t)
	if code != 200 || !strings.Contains(string(body), `"email":"alice@example.com"`) || !strings.Contains(string(body), `"customerId":"cust-alice"`) {
		t.Errorf("Alice's token on her own context: %d %s", code, body)
	}
	code, body = ctxCall{"GET", ctx, "", mallory}.send(t)
	if code != 403 || strings.Contains(string(body), "alice") || strings.Contains(string(body), "version") {
		t.Errorf("Mallory's token on Alice's context: %d %s", code, body)
	}
	if code, body := (ctxCall{"PUT", ctx, `{"metadata":{"version":1},"siteCode":"evil"}`, mallory}).send(t); code != 403 {
		t.Errorf("Mallory wrote Alice's context: %d %s", code, body)
	}
}

// Tokens that are not what Emporix issues under our secret, each built
// the way an attacker would, get 403 on a logged-in customer's context,
// reading and writing, and tell nothing; the customer's real token works.
func TestForgedSaaSTokensThroughCaddy(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(saasSiteConfig(), "caddyfile")
	c := rawClient(t)
	login(t, c, "cust-alice", "alice@example.com")
	ctx := "/session-context/acme/context/" + sessionID(t, c)
	alice := emporixToken(t, saasKey, "cust-alice", time.Now().Add(time.Hour))
	if code, body := (ctxCall{"PUT", ctx + "?upsert=true", `{"metadata":{"version":0}}`, alice}).send(t); code != 204 {
		t.Fatalf("Alice's genuine token: %d %s", code, body)
	}
	for name, tok := range forgedTokens(t, "cust-alice") {
		code, body := ctxCall{"GET", ctx, "", tok}.send(t)
		if code != 403 || strings.Contains(string(body), "alice") || strings.Contains(string(body), "version") {
			t.Errorf("%s: GET %d %s", name, code, body)
		}
		if code, body := (ctxCall{"PUT", ctx, `{"metadata":{"version":1},"siteCode":"x"}`, tok}).send(t); code != 403 {
			t.Errorf("%s: PUT %d %s", name, code, body)
		}
	}
	if code, body := (ctxCall{"GET", ctx, "", alice}).send(t); code != 200 || !strings.Contains(string(body), `"version":1`) {
		t.Errorf("after the attacks: %d %s", code, body)
	}
}

// A reference a browser claimed (no customer token) makes nothing the
// claimed customer's: a token of that reference is not shown the claim
// as the context's customer, the context does not become that customer's
// (the tenant still writes it without a token), and a context of another
// customer stays closed to it.
func TestClaimedReferenceGrantsNothing(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(saasSiteConfig(), "caddyfile")
	exp := time.Now().Add(time.Hour)
	mallory, victim := emporixToken(t, saasKey, "cust-mallory", exp), emporixToken(t, saasKey, "cust-victim", exp)

	c := rawClient(t)
	fetch(t, c, "GET", "http://localhost:9080/")
	open := "/session-context/acme/context/" + sessionID(t, c)
	closed := "/session-context/globex/context/" + sessionID(t, c)
	if code, body := (ctxCall{"PUT", open + "?upsert=true", `{"metadata":{"version":0},"context":{"prefs":{"size":"M"}}}`, ""}).send(t); code != 204 {
		t.Fatalf("the tenant's anonymous context: %d %s", code, body)
	}
	if code, body := (ctxCall{"PUT", closed + "?upsert=true", `{"metadata":{"version":0},"customerId":"cust-victim"}`, victim}).send(t); code != 204 {
		t.Fatalf("the victim's context: %d %s", code, body)
	}
	// The browser claims Mallory's reference, with the visitor's email.
	if res, body := postJSON(t, c, `{"customer":{"customer_reference":"cust-mallory","email":"visitor@example.com"}}`); res.StatusCode != 200 {
		t.Fatalf("the claim: %d %s", res.StatusCode, body)
	}
	code, body := ctxCall{"GET", open, "", mallory}.send(t)
	if code != 200 || strings.Contains(string(body), "visitor@") || strings.Contains(string(body), "cust-mallory") {
		t.Errorf("the claimed reference's token was shown the claim as its own: %d %s", code, body)
	}
	if code, body := (ctxCall{"PUT", open, `{"metadata":{"version":1},"siteCode":"main"}`, ""}).send(t); code != 204 {
		t.Errorf("the claim locked the tenant out of the context: %d %s", code, body)
	}
	if code, body := (ctxCall{"GET", closed, "", mallory}).send(t); code != 403 {
		t.Errorf("the claimed reference's token read another customer's context: %d %s", code, body)
	}
	if code, body := (ctxCall{"GET", closed, "", victim}).send(t); code != 200 || strings.Contains(string(body), "visitor@") {
		t.Errorf("the victim's own context: %d %s", code, body)
	}
}

// forgedTokens are saas-tokens for customer that must all be refused
// under saasKey, each for one reason.
func forgedTokens(t *testing.T, customer string) map[string]string {
	later := time.Now().Add(time.Hour)
	claims := jwt.MapClaims{"sub": customer, "exp": later.Unix()}
	sign := func(m jwt.SigningMethod, c jwt.MapClaims, key any) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := strconv.FormatInt(later.Unix(), 10)
	return map[string]string{
		"alg none":         sign(jwt.SigningMethodNone, claims, jwt.UnsafeAllowNoneSignatureType),
		"wrong key":        sign(jwt.SigningMethodHS256, claims, []byte("not-the-secret")),
		"expired":          sign(jwt.SigningMethodHS256, jwt.MapClaims{"sub": customer, "exp": time.Now().Add(-time.Minute).Unix()}, []byte(saasKey)),
		"no exp":           sign(jwt.SigningMethodHS256, jwt.MapClaims{"sub": customer}, []byte(saasKey)),
		"RS256 header":     forgeHS256(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"`+customer+`","exp":`+exp+`}`, saasKey),
		"HS384, right key": sign(jwt.SigningMethodHS384, claims, []byte(saasKey)),
		"no sub":           sign(jwt.SigningMethodHS256, jwt.MapClaims{"exp": later.Unix()}, []byte(saasKey)),
		"home-made format": oldSaaSToken(saasKey, customer, later),
	}
}

// forgeHS256 signs header and claims with HMAC-SHA256 under key, whatever
// algorithm the header names: what a verifier trusting the header's alg
// would take.
func forgeHS256(header, claims, key string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(m.Sum(nil))
}

// oldSaaSToken is the "<customerId>.<expiry>.<hex mac>" token the API took
// before it took Emporix's.
func oldSaaSToken(key, customer string, exp time.Time) string {
	payload := customer + "." + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(payload))
	return payload + "." + hex.EncodeToString(m.Sum(nil))
}

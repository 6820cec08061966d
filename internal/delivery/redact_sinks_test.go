package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// echoUpstream answers 500 with one value of the request it got (a
// header's, a JSON string's, a form field's), written back with one of
// echoEncoders: the test steps through every value and encoder. With
// token set, an OAuth token endpoint answers with it instead.
type echoUpstream struct {
	*httptest.Server
	token string

	mu         sync.Mutex
	enc, item  int    // what to answer with
	items      int    // how many values the last echoed request had
	echoedItem string // the value last echoed, unencoded
}

func newEchoUpstream(t *testing.T, token string) *echoUpstream {
	e := &echoUpstream{token: token}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *echoUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if e.token != "" && strings.HasSuffix(r.URL.Path, "/oauth/token") {
		writeJSON(w, 200, map[string]any{"access_token": e.token, "token_type": "Bearer", "expires_in": 3600})
		return
	}
	items := requestValues(r, body)
	e.mu.Lock()
	e.items = len(items)
	item := items[e.item%len(items)]
	e.echoedItem = item
	echo := echoEncoders[e.enc].enc(item)
	e.mu.Unlock()
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `{"error":"bad value","value":"`+echo+`"}`)
}

// requestValues are the header values and the body's strings (JSON
// leaves or form values) of a request.
func requestValues(r *http.Request, body []byte) []string {
	var out []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, r.Header[k]...)
	}
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		return append(out, jsonStrings(doc)...)
	}
	form, _ := url.ParseQuery(string(body))
	for _, vs := range form {
		out = append(out, vs...)
	}
	return append(out, string(body))
}

func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range v {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, jsonStrings(v[k])...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, jsonStrings(x)...)
		}
		return out
	}
	return nil
}

// echoShopper is a verified customer with consent, whose every value goes
// to some upstream: a one-letter-short first name, an apostrophe.
var echoShopper = model.Customer{CustomerReference: "cust-4711", Email: "o'brien.j+tag@example.org",
	FirstName: "Al", LastName: "O'Brien", Verified: true, MarketingPermission: true}

const otherSecret = "redis-pass-w0rd" // a secret of the configuration no sink sends

// assertEchoesRedacted delivers through sink once per value the upstream
// got and encoder, and checks that no secret or personal value (of three
// characters or more anywhere, shorter ones as the echoed value) and no
// base64 of a secret is in the snippet, nor in the failure kept for the
// session API and Redis.
func assertEchoesRedacted(t *testing.T, up *echoUpstream, sink Sink, secrets []string) {
	t.Helper()
	personal := personalValues(&model.Session{Customer: echoShopper}, testHasher)
	checked := 0
	for enc := range echoEncoders {
		for item := 0; ; item++ {
			up.mu.Lock()
			up.enc, up.item = enc, item
			up.mu.Unlock()
			u := &Update{EventID: "e1", Session: model.Session{ID: "s1", Version: 1, Customer: echoShopper}}
			_, err := sink.Deliver(context.Background(), u)
			var de *DeliveryError
			if !errors.As(err, &de) || de.Status != 500 {
				t.Fatalf("Deliver = %v", err)
			}
			up.mu.Lock()
			echoed, items := up.echoedItem, up.items
			up.mu.Unlock()
			// What the session API and Redis keep, as they read it back.
			var kept DeliveryFailure
			b, _ := json.Marshal(failureOf(err, time.Now()))
			if err := json.Unmarshal(b, &kept); err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{de.Snippet, err.Error(), kept.Message} {
				checked += checkEcho(t, echoEncoders[enc].name, text, echoed, echoEncoders[enc].enc, secrets, personal)
			}
			if item+1 >= items {
				break
			}
		}
	}
	if checked == 0 {
		t.Fatal("no echo carried a secret or personal value")
	}
}

// checkEcho reports a leak of echoed's sensitive values in text, and
// returns how many it checked.
func checkEcho(t *testing.T, encName, text, echoed string, enc func(string) string, secrets, personal []string) int {
	t.Helper()
	n := 0
	lower := strings.ToLower(text)
	for _, v := range append(slices.Clone(secrets), personal...) {
		short := len(v) < shortValue
		if v == "" || short && !strings.EqualFold(echoed, v) || !strings.Contains(strings.ToLower(echoed), strings.ToLower(v)) {
			continue // a short value only counts as a whole token
		}
		n++
		if short {
			if !strings.Contains(text, `"value":"[redacted]"`) {
				t.Errorf("%s: short %q echoed as %q: %s", encName, v, echoed, text)
			}
		} else if strings.Contains(lower, strings.ToLower(enc(v))) {
			t.Errorf("%s: %q echoed as %q: %s", encName, v, echoed, text)
		}
	}
	for _, s := range secrets {
		if base64Leak(echoed, s) {
			n++
			if base64Leak(text, s) {
				t.Errorf("%s: base64 of %q echoed as %q: %s", encName, s, echoed, text)
			}
		}
	}
	return n
}

func TestTalonOneEchoRedacted(t *testing.T) {
	up := newEchoUpstream(t, "")
	key := "ak-8f2e/9a+Qz=Tal1"
	sink, err := NewTalonOne(TalonOneConfig{URL: up.URL, APIKey: key, Hasher: testHasher, Secrets: NewSecrets(otherSecret)})
	if err != nil {
		t.Fatal(err)
	}
	assertEchoesRedacted(t, up, sink, []string{key, otherSecret})
}

// The token endpoint's echo (client id and secret in the form) and the
// API's (the access token) are both redacted.
func TestEmporixEchoRedacted(t *testing.T) {
	id, secret, token := "emp.client-7781", `s3cr&t"<Pa55>@x'y`, "eyJhbGci.TOK_123~x"
	for name, tok := range map[string]string{"token endpoint": "", "API": token} {
		t.Run(name, func(t *testing.T) {
			up := newEchoUpstream(t, tok)
			sink, err := NewEmporix(EmporixConfig{URL: up.URL, Tenant: "acme", ClientID: id, ClientSecret: secret,
				Hasher: testHasher, Secrets: NewSecrets(otherSecret)})
			if err != nil {
				t.Fatal(err)
			}
			assertEchoesRedacted(t, up, sink, []string{id, secret, token, otherSecret})
		})
	}
}

func TestNostoEchoRedacted(t *testing.T) {
	up := newEchoUpstream(t, "")
	token := "nosto_tok_ABCdef123"
	sink, err := NewNosto(NostoConfig{URL: up.URL, Token: token, Hasher: testHasher, Secrets: NewSecrets(otherSecret)})
	if err != nil {
		t.Fatal(err)
	}
	assertEchoesRedacted(t, up, sink, []string{token, otherSecret})
}

func TestWebhookEchoRedacted(t *testing.T) {
	up := newEchoUpstream(t, "")
	secret := "whsec 0123 4567"
	sink, err := NewWebhook(WebhookConfig{URL: up.URL, Secret: secret, Secrets: NewSecrets(otherSecret)})
	if err != nil {
		t.Fatal(err)
	}
	assertEchoesRedacted(t, up, sink, []string{secret, otherSecret})
}

// rawEchoUpstream answers each request with broken HTTP that quotes it:
// the request line as the status line, or (headers) the Authorization
// value as a header line, which Go's client quotes in its error.
func rawEchoUpstream(t *testing.T, headers bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				if headers {
					fmt.Fprintf(conn, "HTTP/1.1 500 Oops\r\n%s\r\n\r\n", req.Header.Get("Authorization"))
				} else {
					fmt.Fprintf(conn, "%s %s HTTP/1.1\r\n\r\n", req.Method, req.RequestURI)
				}
			}
			conn.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A network error that quotes the upstream's broken answer (the API key
// it echoed as a header line, a webhook URL's key echoed as the status
// line) is redacted in what the session API, Redis and the log keep.
func TestNetworkErrorsRedacted(t *testing.T) {
	const key, urlKey = "ak-8f2e/9a+Qz=Tal1", "hook-key-0123456789"
	talon, err := NewTalonOne(TalonOneConfig{URL: rawEchoUpstream(t, true), APIKey: key, Hasher: testHasher})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := NewWebhook(WebhookConfig{URL: rawEchoUpstream(t, false) + "/hook?v=2&key=" + urlKey, Secret: "whsec"})
	if err != nil {
		t.Fatal(err)
	}
	for secret, sink := range map[string]Sink{key: talon, urlKey: hook} {
		_, err := sink.Deliver(context.Background(), &Update{EventID: "e", Session: model.Session{ID: "s1", Version: 1}})
		var de *DeliveryError
		if !errors.As(err, &de) || de.Status != 0 || !Retryable(err) {
			t.Fatalf("%s: Deliver = %v", sink.Name(), err)
		}
		_, fields := failureFields("s1", 1, err)
		logged := fmt.Sprint(zapFieldValues(fields))
		kept := failureOf(err, time.Now()).Message
		if !strings.Contains(kept, "malformed") || !strings.Contains(kept, "[redacted]") {
			t.Errorf("%s: the cause is not there, redacted: %q", sink.Name(), kept)
		}
		for _, text := range []string{err.Error(), kept, logged} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: %q", sink.Name(), text)
			}
		}
	}
}

func zapFieldValues(fields []zap.Field) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Key+"="+f.String)
	}
	return out
}

package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
)

// The secrets and the customer of the echo tests.
const (
	echoTalonKey     = "ak-8f2e/9a+Qz=Tal1"
	echoClientID     = "emp.client-7781"
	echoClientSecret = `s3cr&t"<Pa55>@x'y`
	echoAccessToken  = "eyJhbGci.TOK_123~x"
	echoTokenKey     = "the-shops-customer-token-key"
	echoRef          = "cust-4711"
	echoEmail        = "o'brien.j+tag@example.org"
)

// caddyEchoEncoders are ways an upstream writes back what it got; each
// session's failure is echoed in the next one.
var caddyEchoEncoders = []func(string) string{
	func(s string) string { return s },
	strings.ToUpper,
	func(s string) string {
		b, _ := json.Marshal(s)
		return strings.ReplaceAll(string(b[1:len(b)-1]), "/", `\/`)
	},
	func(s string) string { return strings.ReplaceAll(html.EscapeString(s), "@", "&#64;") },
	url.QueryEscape,
	func(s string) string { return escapePunct(s, `\u%04x`) },
	func(s string) string { return escapePunct(s, "&#x%X;") },
}

func escapePunct(s, format string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			fmt.Fprintf(&b, format, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// echoServer answers every request 500 with its Authorization header and
// its body's values (JSON strings or form fields), encoded with the next
// of caddyEchoEncoders; with token set, its OAuth token endpoint answers.
type echoServer struct {
	*httptest.Server
	token string
	mu    sync.Mutex
	n     int
}

func newEchoServer(t *testing.T, token string) *echoServer {
	e := &echoServer{token: token}
	e.Server = httptest.NewServer(e)
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if e.token != "" && r.URL.Path == "/oauth/token" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, e.token)
		return
	}
	values := []string{r.Header.Get("Authorization")}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		values = append(values, fmt.Sprint(doc))
	} else if form, err := url.ParseQuery(string(body)); err == nil {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range form {
				yield(k)
			}
		}) {
			values = append(values, k+"="+form.Get(k))
		}
	}
	e.mu.Lock()
	enc := caddyEchoEncoders[e.n%len(caddyEchoEncoders)]
	e.n++
	e.mu.Unlock()
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, `{"error":"refused","echo":"`+enc(strings.Join(values, " "))+`"}`)
}

// echoSite forwards to Talon.One and to two Emporix: one whose token
// endpoint echoes, one whose API does; every attempt fails at once.
func echoSite(store, logPath string, talon, empToken, empAPI *echoServer) string {
	// auto_https off: the operator site's port is not http_port, and
	// automatic HTTPS would log (at DEBUG) the whole config, with every
	// secret the test then finds in the log.
	global := strings.Replace(globalOptions, "grace_period 1ns", "grace_period 1ns\n\tauto_https off\n\tlog {\n\t\toutput file "+logPath+
		"\n\t\tformat json\n\t\tlevel DEBUG\n\t}", 1)
	emporix := func(name, u string) string {
		return fmt.Sprintf("\t\tforward emporix %s {\n\t\t\tname %s\n\t\t\ttenant acme\n\t\t\tclient_id %s\n\t\t\tclient_secret %q\n\t\t}\n",
			u, name, echoClientID, echoClientSecret)
	}
	return global + `
http://localhost:9080 {
	sessiontap {
` + store + `
		hmac_key ` + testHMACKey + `
		collect /_sessiontap/collect {
			customer_token hmac ` + echoTokenKey + `
		}
		forward talonone ` + talon.URL + ` {
			api_key "` + echoTalonKey + `"
		}
` + emporix("emporix-token", empToken.URL) + emporix("emporix-api", empAPI.URL) + `
		delivery {
			max_attempts 1
		}
	}
	respond "shop"
}
` + opsSite(store, "")
}

// echoSecrets are the configuration's secrets an echo may carry.
var echoSecrets = []string{echoTalonKey, echoClientID, echoClientSecret, echoAccessToken, "test-key"}

// echoPersonal are the customer's values an echo may carry.
func echoPersonal() []string {
	return []string{echoRef, echoEmail, delivery.NewHasher(testHMACKey).Hash(echoRef)}
}

// assertNoEcho fails when text holds a secret or personal value in any of
// the encodings.
func assertNoEcho(t *testing.T, where, text string) {
	t.Helper()
	assertNone(t, where, text, append(slices.Clone(echoSecrets), echoPersonal()...))
}

func assertNone(t *testing.T, where, text string, values []string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, v := range values {
		for i, enc := range caddyEchoEncoders {
			if strings.Contains(lower, strings.ToLower(enc(v))) {
				t.Errorf("%s holds %q (encoding %d): %s", where, v, i, text)
			}
		}
	}
}

// collectVerified posts a verified customer as a new visitor and returns
// the session's id.
func collectVerified(t *testing.T) string {
	t.Helper()
	c := rawClient(t)
	tok := handler.CustomerToken([]byte(echoTokenKey), visitorID(t, c), echoRef, echoEmail, time.Now().Add(time.Hour))
	body := fmt.Sprintf(`{"customer":{"customer_reference":%q,"email":%q,"first_name":"Al","last_name":"O'Brien","customer_group":"vip"},"customer_token":%q}`,
		echoRef, echoEmail, tok)
	if res, out := postJSON(t, c, body); res.StatusCode != 200 {
		t.Fatalf("collect: %d %s", res.StatusCode, out)
	}
	for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if ck.Name == DefaultCookieName {
			id, _, _ := strings.Cut(ck.Value, ".")
			return id
		}
	}
	t.Fatal("no session cookie after collect")
	return ""
}

// deliveryErrors waits until every sink of the session failed, and
// returns each sink's last_error message.
func deliveryErrors(t *testing.T, get func() string) map[string]string {
	t.Helper()
	var msgs map[string]string
	waitFor(t, "every sink's failure", func() bool {
		var st struct {
			Sinks []struct {
				Sink      string `json:"sink"`
				LastError *struct {
					Status  int    `json:"status"`
					Message string `json:"message"`
				} `json:"last_error"`
			} `json:"sinks"`
		}
		if json.Unmarshal([]byte(get()), &st) != nil {
			return false
		}
		msgs = map[string]string{}
		for _, s := range st.Sinks {
			if s.LastError != nil && s.LastError.Status == 500 {
				msgs[s.Sink] = s.LastError.Message
			}
		}
		return len(msgs) == 3
	})
	return msgs
}

// An upstream that echoes the request (the Talon.One API key, the Emporix
// client id and secret and access token, the customer's hashed reference)
// gets none of it into /deliveries, Caddy's log or, with Redis, the
// outbox's keys: through a real Caddy, with each store.
func TestEchoingUpstreamLeaksNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, storeBlock, prefix string) {
		talon, empToken, empAPI := newEchoServer(t, ""), newEchoServer(t, ""), newEchoServer(t, echoAccessToken)
		logPath := filepath.Join(t.TempDir(), "caddy.log")
		tester := newTester(t)
		tester.InitServer(echoSite(storeBlock, logPath, talon, empToken, empAPI), "caddyfile")
		for range caddyEchoEncoders {
			id := collectVerified(t)
			msgs := deliveryErrors(t, func() string {
				_, out := do(t, tester, "GET", opsURL+"/sessions/"+id+"/deliveries", "",
					"Authorization", "Bearer test-key")
				return out
			})
			for sink, msg := range msgs {
				if !strings.Contains(msg, `"echo":"`) || !strings.Contains(msg, "[redacted]") {
					t.Errorf("%s: the echo is not there, redacted: %s", sink, msg)
				}
				assertNoEcho(t, sink+"'s last_error", msg)
			}
		}
		if prefix != "" { // the Redis store
			assertOutboxKeysClean(t, primariesOf(t, storeBlock), prefix)
		}
		// A reload stops the engine, which logs its given-up updates.
		tester.InitServer(siteConfig("", "after"), "caddyfile")
		assertLogClean(t, logPath)
	})
}

// assertLogClean reads Caddy's log: the given-up updates are there, with
// their snippets, and no sensitive value is, in any line's decoded fields.
func assertLogClean(t *testing.T, logPath string) {
	t.Helper()
	var text string
	waitFor(t, "the given-up updates in the log", func() bool {
		b, _ := os.ReadFile(logPath)
		text = string(b)
		return strings.Count(text, "upstream deliveries given up") >= 3
	})
	snippets := 0
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		decoded := fmt.Sprint(entry)
		if strings.Contains(decoded, `snippet:{"error":"refused","echo":"`) {
			snippets++
		}
		assertNoEcho(t, "Caddy's log", decoded)
	}
	if snippets < 3 {
		t.Errorf("%d snippets in the log:\n%s", snippets, grepLines(text, "given up"))
	}
}

// assertOutboxKeysClean reads every key under prefix raw: no secret in
// any, and no personal value in the outbox's but in the update it holds
// to deliver (pp, fp), which is the session's own data.
func assertOutboxKeysClean(t *testing.T, servers []rueidis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	errorsKept, nkeys := 0, 0
	for _, c := range servers {
		keys, err := c.Do(ctx, c.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		nkeys += len(keys)
		for _, k := range keys {
			for field, v := range redisValues(t, c, k) {
				assertNone(t, k+" "+field, v, echoSecrets)
				if strings.HasPrefix(k, prefix+"o:") && field != "pp" && field != "fp" {
					assertNone(t, k+" "+field, v, echoPersonal())
				}
				if field == "le" && strings.Contains(v, "[redacted]") {
					errorsKept++
				}
			}
		}
	}
	if errorsKept < 3 {
		t.Errorf("%d redacted errors kept among %d keys", errorsKept, nkeys)
	}
}

// redisValues is key's content by field ("" for a non-hash).
func redisValues(t *testing.T, c rueidis.Client, key string) map[string]string {
	ctx := context.Background()
	typ, _ := c.Do(ctx, c.B().Type().Key(key).Build()).ToString()
	out := map[string]string{}
	switch typ {
	case "hash":
		m, err := c.Do(ctx, c.B().Hgetall().Key(key).Build()).AsStrMap()
		if err != nil {
			t.Fatal(err)
		}
		return m
	case "string":
		out[""], _ = c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
	case "zset", "set", "list":
		var vs []string
		switch typ {
		case "zset":
			vs, _ = c.Do(ctx, c.B().Zrange().Key(key).Min("0").Max("-1").Build()).AsStrSlice()
		case "set":
			vs, _ = c.Do(ctx, c.B().Smembers().Key(key).Build()).AsStrSlice()
		default:
			vs, _ = c.Do(ctx, c.B().Lrange().Key(key).Start(0).Stop(-1).Build()).AsStrSlice()
		}
		out[""] = strings.Join(vs, " ")
	default:
		t.Errorf("key %s of type %q not read", key, typ)
	}
	return out
}

// requestBin is one upstream for Talon.One and Emporix that answers each
// API request 500 with the last request the other sink sent it (its
// Authorization and body), as a shared debugging endpoint would: an error
// one sink gets may carry another sink's credentials, Emporix's access
// token included. Its token endpoint answers with echoAccessToken.
type requestBin struct {
	*httptest.Server
	mu   sync.Mutex
	last map[bool]string // by whether Talon.One sent it
}

func newRequestBin(t *testing.T) *requestBin {
	b := &requestBin{last: map[bool]string{}}
	b.Server = httptest.NewServer(b)
	t.Cleanup(b.Close)
	return b
}

func (b *requestBin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/oauth/token" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, echoAccessToken)
		return
	}
	talon := strings.HasPrefix(r.URL.Path, "/v2/")
	b.mu.Lock()
	other := b.last[!talon]
	b.last[talon] = r.Header.Get("Authorization") + " " + string(body)
	b.mu.Unlock()
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, `{"error":"refused","previous":`+strconvQuote(other)+`}`)
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// An upstream that shows one sink's error with another sink's request
// (Talon.One's API key in Emporix's error, Emporix's access token in
// Talon.One's) leaks neither: every sink redacts every configured secret
// and every sink's access tokens.
func TestSharedUpstreamLeaksNoOtherSinksSecret(t *testing.T) {
	bin := newRequestBin(t)
	tester := newTester(t)
	tester.InitServer(globalOptions+`
http://localhost:9080 {
	sessiontap {
		hmac_key `+testHMACKey+`
		forward talonone `+bin.URL+` {
			api_key "`+echoTalonKey+`"
		}
		forward emporix `+bin.URL+` {
			tenant acme
			client_id `+echoClientID+`
			client_secret "`+strings.ReplaceAll(echoClientSecret, `"`, `\"`)+`"
		}
		delivery {
			max_attempts 1
		}
	}
	respond "shop"
}
`+opsSite("", ""), "caddyfile")
	crossed := 0
	for i := 0; i < 3; i++ {
		c := rawClient(t)
		if res, out := postJSON(t, c, cartBody); res.StatusCode != 200 {
			t.Fatalf("collect: %d %s", res.StatusCode, out)
		}
		id := ""
		for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
			id, _, _ = strings.Cut(ck.Value, ".")
		}
		var msgs map[string]string
		waitFor(t, "both sinks' failures", func() bool {
			_, out := do(t, tester, "GET", opsURL+"/sessions/"+id+"/deliveries", "",
				"Authorization", "Bearer test-key")
			msgs = failedSinks(out)
			return len(msgs) == 2
		})
		for sink, msg := range msgs {
			assertNone(t, sink+"'s last_error", msg, echoSecrets)
			if strings.Contains(msg, "[redacted]") {
				crossed++
			}
		}
	}
	if crossed == 0 {
		t.Error("no error carried another sink's request")
	}
}

// failedSinks is each failed sink's last_error message in a deliveries
// answer.
func failedSinks(out string) map[string]string {
	var st struct {
		Sinks []struct {
			Sink      string `json:"sink"`
			LastError *struct {
				Status  int    `json:"status"`
				Message string `json:"message"`
			} `json:"last_error"`
		} `json:"sinks"`
	}
	msgs := map[string]string{}
	if json.Unmarshal([]byte(out), &st) != nil {
		return msgs
	}
	for _, s := range st.Sinks {
		if s.LastError != nil && s.LastError.Status == 500 {
			msgs[s.Sink] = s.LastError.Message
		}
	}
	return msgs
}

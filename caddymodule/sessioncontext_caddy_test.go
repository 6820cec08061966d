package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
)

// ctxCall is one request to the session-context API through Caddy, checked
// against Emporix's spec on the way out and on the way back.
type ctxCall struct {
	method, path, body, token string
}

func (c ctxCall) request(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest(c.method, opsURL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer test-key")
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		r.Header.Set("saas-token", c.token)
	}
	return r
}

// send is safe to call from several goroutines; it reports with t.Errorf.
func (c ctxCall) send(t *testing.T) (int, []byte) {
	spec := spectest.Load(t, spectest.Emporix)
	if err := spec.ValidateRequest(c.request(t), "/_sessiontap/api", []byte(c.body)); err != nil {
		t.Errorf("the test's request is not valid by the spec: %v", err)
	}
	// No cookie jar: the API's callers are services, not visitors.
	res, err := http.DefaultClient.Do(c.request(t))
	if err != nil {
		t.Errorf("%s %s: %v", c.method, c.path, err)
		return 0, nil
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if err := spec.ValidateResponse(c.request(t), "/_sessiontap/api", []byte(c.body), res.StatusCode, res.Header, body); err != nil {
		t.Errorf("%s %s → %d %s: %v", c.method, c.path, res.StatusCode, body, err)
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Errorf("%s %s: the API set a cookie", c.method, c.path)
	}
	return res.StatusCode, body
}

// TestSessionContextThroughCaddy runs the Emporix-compatible API on a
// real Caddy with Emporix's saas-tokens (HS256 JWTs) under the key from
// the Caddyfile: the logged-in customer's own token opens the context,
// another customer's gets 403, tenants are apart, and concurrent PUTs of
// one version give one 204.
func TestSessionContextThroughCaddy(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(saasSiteConfig(), "caddyfile")
	c := rawClient(t)
	login(t, c, "cust-1", "one@example.com")
	s := sessionID(t, c)
	expiry := time.Now().Add(time.Hour)
	own := emporixToken(t, saasKey, "cust-1", expiry)
	other := emporixToken(t, saasKey, "cust-2", expiry)
	acme := "/session-context/acme/context/" + s

	create := ctxCall{"PUT", acme + "?upsert=true", `{"metadata":{"version":0},"siteCode":"main"}`, ""}
	for _, tok := range []string{"", other, own + "x"} {
		create.token = tok
		if code, body := create.send(t); code != 403 {
			t.Errorf("create with token %.12q: %d %s", tok, code, body)
		}
	}
	create.token = own
	if code, body := create.send(t); code != 204 {
		t.Fatalf("create with the customer's token: %d %s", code, body)
	}

	code, body := ctxCall{"GET", acme, "", own}.send(t)
	var got struct {
		SessionID  string                    `json:"sessionId"`
		CustomerID string                    `json:"customerId"`
		SiteCode   string                    `json:"siteCode"`
		Context    map[string]map[string]any `json:"context"`
		Metadata   struct{ Version int }     `json:"metadata"`
	}
	if err := json.Unmarshal(body, &got); code != 200 || err != nil {
		t.Fatalf("GET: %d %s", code, body)
	}
	if got.SessionID != s || got.CustomerID != "cust-1" || got.SiteCode != "main" || got.Metadata.Version != 1 ||
		got.Context["cart"] == nil {
		t.Errorf("GET: %s", body)
	}
	if code, _ := (ctxCall{"GET", acme, "", other}).send(t); code != 403 {
		t.Errorf("another customer's token read the context: %d", code)
	}
	if code, _ := (ctxCall{"GET", "/session-context/globex/context/" + s, "", own}).send(t); code != 404 {
		t.Errorf("another tenant sees acme's context: %d", code)
	}

	// Two writers with the same version, over real connections.
	for version := 1; version <= 20; version++ {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"metadata":{"version":%d},"context":{"w":{"writer":%d}}}`, version, i)
				codes[i], _ = ctxCall{"PUT", acme, body, own}.send(t)
			}()
		}
		wg.Wait()
		if !(codes[0] == 204 && codes[1] == 409 || codes[0] == 409 && codes[1] == 204) {
			t.Fatalf("version %d: %v, want one 204 and one 409", version, codes)
		}
	}
}

package caddymodule

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Contexts name customers (customerId, attributes): the whole session,
// contexts and all, is read only with an operator key or the inspector's
// sign-in, which takes one, and the inspector sees what the key sees. A
// saas-token, a forged sign-in cookie or the sign-in cookie on the
// session-context routes opens nothing.
func TestOnlyOperatorsSeeContexts(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		collect /_sessiontap/collect {
			customer_token hmac `+shopKey+`
		}`, `respond "shop"`)+opsSite("", `
		saas_token hmac `+saasKey+`
		inspector`), "caddyfile")
	c := rawClient(t)
	login(t, c, "cust-alice", "alice@example.com")
	id := sessionID(t, c)
	alice := emporixToken(t, saasKey, "cust-alice", time.Now().Add(time.Hour))
	body := `{"metadata":{"version":0},"customerId":"cust-alice","context":{"prefs":{"size":"M"}}}`
	if code, answer := (ctxCall{"PUT", "/session-context/acme/context/" + id + "?upsert=true", body, alice}).send(t); code != 204 {
		t.Fatalf("Alice's context: %d %s", code, answer)
	}
	session := opsURL + "/sessions/" + id
	_, asOperator := fetch(t, rawClient(t), "GET", session, "Authorization", "Bearer test-key")
	if !strings.Contains(string(asOperator), `"customer_id":"cust-alice"`) {
		t.Fatalf("the operator's view lacks the context: %s", asOperator)
	}

	cookie := inspectorSignIn(t)
	res, asInspector := fetch(t, rawClient(t), "GET", session, "Cookie", cookie)
	if res.StatusCode != 200 || string(asInspector) != string(asOperator) {
		t.Errorf("the inspector's view: %d %s, want the operator's %s", res.StatusCode, asInspector, asOperator)
	}
	forged := cookie[:len(cookie)-4] + "AAAA"
	contextURL := opsURL + "/session-context/acme/context/" + id
	for name, r := range map[string]struct {
		url    string
		header []string
	}{
		"no key":                      {session, nil},
		"a saas-token":                {session, []string{"saas-token", alice}},
		"a saas-token as the bearer":  {session, []string{"Authorization", "Bearer " + alice}},
		"a forged sign-in":            {session, []string{"Cookie", forged}},
		"a visitor's cookie":          {session, []string{"Cookie", "sessiontap_id=" + cookieValue(t, c)}},
		"a sign-in on a context":      {contextURL, []string{"Cookie", cookie}},
		"a sign-in and Alice's token": {contextURL, []string{"Cookie", cookie, "saas-token", alice}},
	} {
		res, got := fetch(t, rawClient(t), "GET", r.url, r.header...)
		if res.StatusCode != 401 || strings.Contains(string(got), "cust-alice") || strings.Contains(string(got), "prefs") {
			t.Errorf("%s: %d %s", name, res.StatusCode, got)
		}
	}
}

// inspectorSignIn signs in to the inspector with the API key and returns
// the Cookie header its answer set.
func inspectorSignIn(t *testing.T) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(opsURL+"/ui/login", url.Values{"key": {"test-key"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "sessiontap_inspector" && ck.Value != "" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatalf("sign-in: %d, no cookie", res.StatusCode)
	return ""
}

// cookieValue is the whole value of c's session cookie.
func cookieValue(t *testing.T, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if ck.Name == "sessiontap_id" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

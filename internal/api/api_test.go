package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func apiReq(method, path, key string) *http.Request {
	r := httptest.NewRequest(method, "/_sessiontap/api"+path, nil)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return r
}

func TestAPIUnauthorized(t *testing.T) {
	h, store := newTestAPI(t, testConfig())
	id := newVisitor(t, store).id
	for _, r := range []*http.Request{
		apiReq("GET", "/sessions/"+id, ""),
		apiReq("GET", "/sessions/"+id, "wrong"),
		apiReq("GET", "/sessions/"+id, "secret-key "),
		apiReq("DELETE", "/sessions/"+id, "secret"),
		apiReq("GET", "/nothing-here", ""),
	} {
		w := serve(t, h, r)
		if w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), id) || strings.Contains(w.Body.String(), "181503") {
			t.Errorf("%s %s: %d %s", r.Method, r.URL, w.Code, w.Body)
		}
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate")
		}
		if len(w.Result().Cookies()) != 0 {
			t.Error("the API set a visitor cookie")
		}
	}
	// "Bearer " with nothing after it must not match the empty key in the list.
	r := apiReq("GET", "/sessions/"+id, "")
	r.Header.Set("Authorization", "Bearer ")
	if w := serve(t, h, r); w.Code != http.StatusUnauthorized {
		t.Errorf("empty bearer: %d", w.Code)
	}
}

func TestAPIGetAndDelete(t *testing.T) {
	h, store := newTestAPI(t, testConfig())
	id := newVisitor(t, store).id

	w := serve(t, h, apiReq("GET", "/sessions/"+id, "secret-key"))
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	var s map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "version", "created_at", "updated_at", "cart", "customer", "page_type"} {
		if _, ok := s[k]; !ok {
			t.Errorf("no %q in %s", k, w.Body)
		}
	}
	items := s["cart"].(map[string]any)["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["unit_price"] != 123.45 {
		t.Errorf("cart: %v", s["cart"])
	}
	if s["customer"].(map[string]any)["customer_reference"] != "b369f1235cf4f08153c560.82515936" {
		t.Errorf("customer: %v", s["customer"])
	}

	if w := serve(t, h, apiReq("DELETE", "/sessions/"+id, "secret-key")); w.Code != http.StatusNoContent {
		t.Errorf("DELETE: %d", w.Code)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if w := serve(t, h, apiReq(m, "/sessions/"+id, "secret-key")); w.Code != http.StatusNotFound {
			t.Errorf("%s after delete: %d", m, w.Code)
		}
	}
}

func TestAPINotFoundAndMethods(t *testing.T) {
	h, _ := newTestAPI(t, testConfig())
	for path, want := range map[string]int{
		"/sessions/unknown-id": http.StatusNotFound,
		"/sessions/bad%20id":   http.StatusNotFound,
		"/elsewhere":           http.StatusNotFound,
	} {
		if w := serve(t, h, apiReq("GET", path, "secret-key")); w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
	w := serve(t, h, apiReq("POST", "/sessions/x", "secret-key"))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, DELETE" {
		t.Errorf("POST: %d %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestAPIOffWithoutUsableKey(t *testing.T) {
	cfg := testConfig()
	cfg.Keys = []string{""}
	_, store := newTestAPI(t, testConfig())
	if _, err := New(cfg, store, nil); err == nil {
		t.Error("an API whose only key is empty was accepted")
	}
}

// Operators copy the cookie's value (<id>.<stamp>) from the browser: every
// route taking a session id reads it as the session <id>.
func TestAPIAcceptsTheCookieValue(t *testing.T) {
	h, store := newTestAPI(t, testConfig())
	v := newVisitor(t, store)
	id := v.id
	if v.cookie == id || !strings.HasPrefix(v.cookie, id+".") {
		t.Fatalf("cookie %q is not <id>.<stamp> of %q", v.cookie, id)
	}
	w := serve(t, h, apiReq("GET", "/sessions/"+v.cookie, "secret-key"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"id":"`+id+`"`) {
		t.Fatalf("GET by cookie value: %d %s", w.Code, w.Body)
	}
	// The session-context API answers with the bare id.
	q := ctxReq{method: "GET", tenant: "acme", id: v.cookie}
	seed(t, store, id, "")
	wantStatus(t, do(t, h, q), 404) // no context for the tenant yet
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: v.cookie, upsert: true, body: put(nil, `"currency":"EUR"`)}), 204)
	w = do(t, h, q)
	if got := decodeContext(t, w); w.Code != http.StatusOK || got.SessionID != id {
		t.Errorf("session-context by cookie value: %d %s", w.Code, w.Body)
	}
	// A stamp that is not base 36 is not our cookie: taken as an id, unknown.
	if w := serve(t, h, apiReq("GET", "/sessions/"+id+".!", "secret-key")); w.Code != http.StatusNotFound {
		t.Errorf("GET %s.!: %d", id, w.Code)
	}
	if w := serve(t, h, apiReq("DELETE", "/sessions/"+v.cookie, "secret-key")); w.Code != http.StatusNoContent || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("DELETE by cookie value: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if _, err := store.Get(context.Background(), id); err == nil {
		t.Error("the session outlived a DELETE by cookie value")
	}
}

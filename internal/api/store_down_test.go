package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// With the Redis store cut off, every route that reads or writes it
// answers 503 with Retry-After and a JSON error, not a 500 that says
// bug; a GDPR delete that could not finish is never a 200. Back, they
// work again.
func TestRedisDownAPI(t *testing.T) {
	p := redistest.NewProxy(t, redistest.Addr(t))
	store, err := cache.NewRedis(context.Background(), cache.RedisConfig{Addresses: []string{p.Addr()},
		Prefix: redistest.Prefix(t), HashKey: []byte("api-test-index-key-0123456"), Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a, err := New(testConfig(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := newVisitor(t, store)
	customer := `{"customer_reference":"b369f1235cf4f08153c560.82515936"}`
	context := apiPrefix + "/session-context/shop/context/" + v.id
	requests := []*http.Request{
		keyed("GET", apiPrefix+"/sessions/"+v.id, ""),
		keyed("DELETE", apiPrefix+"/sessions/"+v.id, ""),
		keyed("POST", apiPrefix+"/customers/takeout", customer),
		keyed("POST", apiPrefix+"/customers/delete", customer),
		keyed("GET", context, ""),
		keyed("PUT", context+"?upsert=true", `{"metadata":{}}`),
	}
	p.Cut()
	for _, r := range requests {
		w := serve(t, a, r)
		var body map[string]any
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
			json.Unmarshal(w.Body.Bytes(), &body) != nil || (body["error"] == nil && body["message"] == nil) {
			t.Errorf("%s %s: %d Retry-After %q %s", r.Method, r.URL, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		if strings.Contains(w.Body.String(), "devnull@nosto.com") {
			t.Errorf("%s %s: the answer shows the session: %s", r.Method, r.URL, w.Body)
		}
	}
	p.Restore(t)
	if w := serve(t, a, keyed("GET", apiPrefix+"/sessions/"+v.id, "")); w.Code != 200 {
		t.Errorf("GET after the outage: %d %s", w.Code, w.Body)
	}
	if w := serve(t, a, keyed("POST", apiPrefix+"/customers/delete", customer)); w.Code != 200 || w.Body.String() != "{\"deleted\":1}\n" {
		t.Errorf("GDPR delete after the outage: %d %s", w.Code, w.Body)
	}
}

// keyed is an API request with the test's key and a body.
func keyed(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer secret-key")
	return r
}

// failingDeletes is a store whose Deletes fail as in an outage.
type failingDeletes struct{ cache.Store }

func (failingDeletes) Delete(context.Context, string) error {
	return fmt.Errorf("redis: deleting session: %w: i/o timeout", cache.ErrUnavailable)
}

// A GDPR delete the store failed part way is a 503 saying how many went,
// never a 200 the operator would file as done.
func TestGDPRDeleteCutShort(t *testing.T) {
	_, store := newTestAPI(t, testConfig())
	newVisitor(t, store)
	a, err := New(testConfig(), failingDeletes{store}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(t, a, keyed("POST", apiPrefix+"/customers/delete", `{"customer_reference":"b369f1235cf4f08153c560.82515936"}`))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"deleted":0`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

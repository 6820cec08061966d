package handler

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// With the Redis store gone (cut or hung), pages still pass byte for byte
// and in time, collect answers 503 with Retry-After, and nothing is logged
// per request above Debug; once Redis is back, writes land again.
func TestRedisDownHandler(t *testing.T) {
	const timeout = 150 * time.Millisecond
	p := redistest.NewProxy(t, redistest.Addr(t))
	store, err := cache.NewRedis(context.Background(), cache.RedisConfig{Addresses: []string{p.Addr()},
		Prefix: redistest.Prefix(t), HashKey: []byte("handler-test-index-key-0123"), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := testConfig()
	cfg.Capture = CaptureConfig{HTML: true}
	h, err := New(cfg, store, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	v := newVisitor(t, h)
	shop := html("<html>" + cartTagging + "</html>")

	for _, mode := range []string{"cut", "hang"} {
		if mode == "cut" {
			p.Cut()
		} else {
			p.Hang()
		}
		start := time.Now()
		if w := visit(t, h, v.cookie, shop); w.Code != 200 || w.Body.String() != shop.body {
			t.Errorf("%s: page %d %q", mode, w.Code, w.Body)
		}
		// One store call per request (the capture's update): one timeout.
		if d := time.Since(start); d > timeout+200*time.Millisecond {
			t.Errorf("%s: the page took %s, store timeout %s", mode, d, timeout)
		}
		w := v.post(`{"cart":{"items":[]}}`)
		var body map[string]string
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
			json.Unmarshal(w.Body.Bytes(), &body) != nil || body["error"] == "" {
			t.Errorf("%s: collect %d Retry-After %q %s", mode, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		p.Restore(t)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("%d lines logged per request for an unavailable store: %v", n, logs.All()[0])
	}
	if got := decodeView(t, v.post(twoItems)); len(got.Cart.Items) != 2 {
		t.Errorf("after the outage: %+v", got)
	}
}

// brokenStore fails every call with err.
type brokenStore struct {
	cache.Store
	err error
}

func (b brokenStore) Update(context.Context, string, cache.UpdateFunc) (*model.Session, error) {
	return nil, b.err
}

// A store error that is not an outage stays a 500, logged each time: it
// is a bug to see.
func TestCollectStoreBugIs500(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h, err := New(testConfig(), brokenStore{err: errors.New("stored session: bad encoding")}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := serveNow(h, w, collectReq(twoItems), &shopNext{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusInternalServerError || w.Header().Get("Retry-After") != "" {
		t.Errorf("collect: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if logs.FilterMessage("storing session failed").Len() != 1 {
		t.Errorf("the bug was not logged: %v", logs.All())
	}
}

// A collect whose write Redis runs but answers late: read back and found,
// it succeeds; not found in time either, the answer says the change may
// have been stored, never that nothing was.
func TestCollectLateWriteIsNotCalledUnstored(t *testing.T) {
	const timeout = 150 * time.Millisecond
	p := redistest.NewProxy(t, redistest.Addr(t))
	store, err := cache.NewRedis(context.Background(), cache.RedisConfig{Addresses: []string{p.Addr()},
		Prefix: redistest.Prefix(t), HashKey: []byte("handler-test-index-key-0123"), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := New(testConfig(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := newVisitor(t, h)

	p.DelayReplies(2*timeout, "EVALSHA")
	w := v.post(`{"page_type":"product"}`)
	p.DelayReplies(0)
	if w.Code != http.StatusOK {
		t.Errorf("a write answered late, found on reading back: %d %s; want 200", w.Code, w.Body)
	}

	p.DelayReplies(3*time.Second, "EVALSHA", "GETRANGE")
	w = v.post(`{"page_type":"cart"}`)
	p.DelayReplies(0)
	var body map[string]string
	if w.Code != http.StatusServiceUnavailable || json.Unmarshal(w.Body.Bytes(), &body) != nil ||
		!strings.Contains(body["error"], "may have been stored") || strings.Contains(body["error"], "nothing") {
		t.Errorf("a write of unknown outcome: %d %s; want 503 saying it may have been stored", w.Code, w.Body)
	}
}

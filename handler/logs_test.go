package handler

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Log lines name a session by its pseudonym, never by its id: a session id
// in a log is a key to the session for whoever reads the log.
func TestLogsNameSessionsByPseudonymOnly(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := testConfig()
	cfg.Capture = CaptureConfig{HTML: true}
	cfg.LogID = func(id string) string { return "pseudonym-of-" + strings.Repeat("x", len(id)) }
	store, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := New(cfg, store, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	id := model.NewID()
	c := &http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(id, h.day())}
	visit(t, h, c, page{header: http.Header{"Content-Type": {"text/html"}}, body: cartTagging})
	v := &visitor{t: t, h: h, cookie: c}
	v.post(`{"customer":{"email":"alice@example.com","first_name":"Alice"}}`)
	if logs.Len() == 0 {
		t.Fatal("nothing was logged: the test checks nothing")
	}
	named := false
	for _, e := range logs.All() {
		for k, f := range e.ContextMap() {
			s, _ := f.(string)
			if strings.Contains(s, id) || strings.Contains(s, "alice") || strings.Contains(s, "Alice") {
				t.Errorf("%q logs %s=%q", e.Message, k, s)
			}
			named = named || (k == "session" && strings.HasPrefix(s, "pseudonym-of-"))
		}
	}
	if !named {
		t.Error("no log line names the session by its pseudonym")
	}
}

package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// brokenStore fails every read and write with an error that is a bug,
// not an outage: what the API logs at error level.
type brokenStore struct{ cache.Store }

func (brokenStore) Get(context.Context, string) (*model.Session, error) {
	return nil, errors.New("broken")
}

func (brokenStore) Update(context.Context, string, cache.UpdateFunc) (*model.Session, error) {
	return nil, errors.New("broken")
}

// The session-context API's log lines, at every level, name no session
// id, token or customer: a log reader must get no key to a session.
func TestSessionContextLogsNoSecrets(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	_, store := newTestAPI(t, testConfig())
	cfg := testConfig()
	cfg.SaaSTokens = NewStaticVerifier(map[string]string{"tok-secret": "cust-secret"})
	for _, st := range []cache.Store{store, brokenStore{store}} {
		a, err := New(cfg, st, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []ctxReq{
			{method: "GET", tenant: "acme", id: "sess-secret", token: "forged-secret"},
			{method: "PUT", tenant: "acme", id: "sess-secret", upsert: true, body: put(0, `"customerId":"cust-secret"`), token: "forged-secret"},
		} {
			do(t, a, q)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged: the test does not reach the log lines")
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " "))
		}
		if strings.Contains(line, "secret") {
			t.Errorf("a log line names a secret: %s", line)
		}
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return ""
}

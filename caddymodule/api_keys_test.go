package caddymodule

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A key whose environment variable is unset is ignored, and says so once
// at load: an operator who forgot to export it should not find out from a
// 401 alone. The log names the placeholder and its line, never a key.
func TestUnsetKeyIsLoggedNotUsed(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_UNSET_KEY", "")
	core, logs := observer.New(zapcore.WarnLevel)
	o := OperatorHandler{API: API{Prefix: "/ops", Keys: []string{"{env.SESSIONTAP_TEST_UNSET_KEY}", "the-real-key-0123"},
		KeyOrigins: []string{"Caddyfile:7", "Caddyfile:8"}}, logger: zap.New(core), hub: new(hub)}
	cfg, err := o.apiConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Keys) != 1 || cfg.Keys[0] != "the-real-key-0123" {
		t.Fatalf("keys %v", cfg.Keys)
	}
	entries := logs.FilterMessage("sessiontap_api: a key is ignored").All()
	if len(entries) != 1 {
		t.Fatalf("%d warnings, want one", len(entries))
	}
	reason := entries[0].ContextMap()["reason"].(string)
	if !strings.Contains(reason, "SESSIONTAP_TEST_UNSET_KEY") || !strings.Contains(reason, "Caddyfile:7") || strings.Contains(reason, "the-real-key") {
		t.Errorf("warning %q: want the placeholder and line, never a key", reason)
	}
}

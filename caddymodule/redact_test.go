package caddymodule

import (
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Every secret of the configuration, placeholders replaced, is handed to
// the sinks' redactors. (The operator handler's keys are not among them:
// they never leave the process, so no upstream can echo one.)
func TestSecretsToRedactListsEverySecret(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_HOOK_SECRET", "hook-secret-from-env")
	h := &Handler{
		HMACKey:       "hmac-key-value",
		Cookie:        &Cookie{Secret: "cookie-secret-value"},
		CustomerToken: &CustomerToken{HMACKey: "customer-token-key"},
		Forward: []Forward{
			{To: "talonone", APIKey: "talon-key"},
			{To: "emporix", ClientID: "emp-id", ClientSecret: "emp-secret"},
			{To: "nosto", Token: "nosto-token"},
			{To: "webhook", Secret: "{env.SESSIONTAP_TEST_HOOK_SECRET}"},
		},
	}
	got := h.secretsToRedact(caddy.NewReplacer())
	for _, want := range []string{"hmac-key-value", "cookie-secret-value", "customer-token-key", "talon-key", "emp-id",
		"emp-secret", "nosto-token", "hook-secret-from-env"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q is not redacted; got %q", want, got)
		}
	}
}

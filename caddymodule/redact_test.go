package caddymodule

import (
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Every secret of the configuration, placeholders replaced, is handed to
// the sinks' redactors.
func TestSecretsToRedactListsEverySecret(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_API_KEY", "api-key-from-env")
	h := &Handler{
		HMACKey:       "hmac-key-value",
		Cookie:        &Cookie{Secret: "cookie-secret-value"},
		CustomerToken: &CustomerToken{HMACKey: "customer-token-key"},
		Forward: []Forward{
			{To: "talonone", APIKey: "talon-key"},
			{To: "emporix", ClientID: "emp-id", ClientSecret: "emp-secret"},
			{To: "nosto", Token: "nosto-token"},
			{To: "webhook", Secret: "hook-secret"},
		},
		API: &API{Keys: []string{"{env.SESSIONTAP_TEST_API_KEY}", "static-api-key"},
			SaaSToken: &SaaSToken{HMACKey: "saas-key", Static: map[string]string{"static-saas-token": "c1"}},
			Inspector: &Inspector{Secret: "inspector-secret"}},
	}
	got := h.secretsToRedact(caddy.NewReplacer())
	for _, want := range []string{"hmac-key-value", "cookie-secret-value", "customer-token-key", "talon-key", "emp-id",
		"emp-secret", "nosto-token", "hook-secret", "api-key-from-env", "static-api-key", "saas-key",
		"static-saas-token", "inspector-secret"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q is not redacted; got %q", want, got)
		}
	}
}

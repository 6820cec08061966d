package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

func TestCaddyfileSaaSToken(t *testing.T) {
	var o OperatorHandler
	err := o.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`sessiontap_api /ops {
		key one
		saas_token static tok-1 cust-1
		saas_token static tok-2 cust-2
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := o.SaaSToken.Static; len(got) != 2 || got["tok-2"] != "cust-2" || o.Keys[0] != "one" {
		t.Errorf("sessiontap_api: %+v %+v", o.API, o.SaaSToken)
	}
	b, _ := json.Marshal(o)
	if !strings.Contains(string(b), `"saas_token":{"static":{"tok-1":"cust-1","tok-2":"cust-2"}}`) {
		t.Errorf("JSON: %s", b)
	}

	o = OperatorHandler{}
	err = o.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`sessiontap_api /ops {
		saas_token hmac {env.SAAS_KEY}
		key one
	}`))
	if err != nil || o.SaaSToken.HMACKey != "{env.SAAS_KEY}" {
		t.Errorf("hmac: %v %+v", err, o.SaaSToken)
	}

	o = OperatorHandler{}
	err = o.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sessiontap_api /ops {\n key one\n saas_token hamc k\n}"))
	if err == nil || !strings.Contains(err.Error(), `did you mean "hmac"?`) || !strings.Contains(err.Error(), "Testfile:3") {
		t.Errorf("a misspelt kind: %v", err)
	}

	for _, bad := range []string{
		"saas_token",
		"saas_token hmac",
		"saas_token hmac a b",
		"saas_token hmac a\n saas_token hmac b",
		"saas_token static tok",
		"saas_token static tok c extra",
		"saas_token static tok c\n saas_token static tok d",
		"saas_token hmac a\n saas_token static tok c",
		"saas_token jwt x",
	} {
		o = OperatorHandler{}
		err := o.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sessiontap_api /ops {\n key one\n " + bad + "\n}"))
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSaaSTokenVerifier(t *testing.T) {
	t.Setenv("SESSIONTAP_TEST_SAAS_KEY", "k3y")
	repl := caddy.NewReplacer()
	v, err := (&SaaSToken{HMACKey: "{env.SESSIONTAP_TEST_SAAS_KEY}"}).verifier(repl)
	if err != nil {
		t.Fatal(err)
	}
	tok := emporixToken(t, "k3y", "cust-1", time.Now().Add(time.Minute))
	if got, err := v.CustomerID(context.Background(), tok); err != nil || got != "cust-1" {
		t.Errorf("hmac: %q %v", got, err)
	}
	v, err = (&SaaSToken{Static: map[string]string{"t": "c"}}).verifier(repl)
	if got, _ := v.CustomerID(context.Background(), "t"); err != nil || got != "c" {
		t.Errorf("static: %q %v", got, err)
	}
	if v, err := (*SaaSToken)(nil).verifier(repl); v != nil || err != nil {
		t.Errorf("none: %v %v", v, err)
	}
	for _, bad := range []*SaaSToken{
		{HMACKey: "{env.SESSIONTAP_TEST_UNSET}"},
		{HMACKey: "k", Static: map[string]string{"t": "c"}},
		{},
	} {
		if _, err := bad.verifier(repl); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestAPIConfigSaaSToken(t *testing.T) {
	o := OperatorHandler{API: API{Prefix: "/ops", Keys: []string{"k"}, SaaSToken: &SaaSToken{Static: map[string]string{"t": "c"}}},
		logger: zap.NewNop(), hub: new(hub)}
	cfg, err := o.apiConfig()
	if err != nil || cfg == nil || cfg.SaaSTokens == nil {
		t.Fatalf("%+v %v", cfg, err)
	}
	o.SaaSToken = &SaaSToken{HMACKey: "{env.SESSIONTAP_TEST_UNSET}"}
	if _, err := o.apiConfig(); err == nil {
		t.Error("an empty HMAC key was accepted")
	}
}

// emporixToken mints a saas-token as Emporix's customer login does: a JWT
// signed HS256 under key with claims sub (the customer number) and exp.
func emporixToken(t *testing.T, key, customer string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": customer, "exp": exp.Unix()}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

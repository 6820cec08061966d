package delivery

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

var testPseudonyms = NewPseudonyms([]byte("test-id-key"))

func TestPseudonyms(t *testing.T) {
	own := model.NewID()
	p := testPseudonyms.SessionID(own)
	if p == own || strings.Contains(p, own) || len(p) != 32 || model.IsOwnID(p) {
		t.Errorf("pseudonym of %s = %q: want 32 characters, not the id, not shaped like one of ours", own, p)
	}
	if testPseudonyms.SessionID(own) != p {
		t.Error("the pseudonym is not stable")
	}
	if NewPseudonyms([]byte("other")).SessionID(own) == p {
		t.Error("the pseudonym does not depend on the key")
	}
	if testPseudonyms.SessionID(model.NewID()) == p {
		t.Error("two sessions share a pseudonym")
	}
	// External ids go out as they are: their owner issued them.
	for _, ext := range []string{"5b1a481060b221115c4a251e", "shop-session-77", "sid-1"} {
		if got := testPseudonyms.SessionID(ext); got != ext {
			t.Errorf("external id %q sent as %q", ext, got)
		}
		if got := testPseudonyms.Of(ext); got == ext || len(got) != 32 {
			t.Errorf("Of(%q) = %q, want a pseudonym", ext, got)
		}
	}
	if testPseudonyms.Of("") != "" || testPseudonyms.SessionID("") != "" {
		t.Error("no id must stay no id")
	}
	var none *Pseudonyms // an empty key, still no raw id
	if got := none.SessionID(own); got == own || got != NewPseudonyms(nil).SessionID(own) {
		t.Errorf("nil Pseudonyms sent %q", got)
	}
}

// Each sink sends the pseudonym of one of our ids wherever it sent the id.
func TestSinksSendPseudonyms(t *testing.T) {
	own := model.NewID()
	want := testPseudonyms.SessionID(own)
	sess := model.Session{ID: own, Version: 1, Cart: testCart(t), State: model.StateOpen}

	talon := newFakeTalonOne(t)
	sink := newTestTalonOne(t, talon, func(c *TalonOneConfig) { c.Pseudonyms = testPseudonyms })
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	if r, _ := talon.last(t); r.Path != "/v2/customer_sessions/"+want {
		t.Errorf("Talon.One path %s, want the pseudonym %s", r.Path, want)
	}

	emporix := newFakeEmporix(t)
	esink := newTestEmporix(t, emporix, func(c *EmporixConfig) { c.Pseudonyms = testPseudonyms })
	if _, err := deliver(t, esink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	if r, body := lastPut(t, emporix); !strings.HasSuffix(r.Path, "/context/"+want) || body["sessionId"] != want {
		t.Errorf("Emporix path %s sessionId %v, want the pseudonym %s", r.Path, body["sessionId"], want)
	}

	nosto := newNostoFake(t, nil)
	nsink, err := NewNosto(NostoConfig{URL: nosto.URL + "/v1/graphql", Token: nostoTestToken, Hasher: testHasher, Pseudonyms: testPseudonyms})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deliver(t, nsink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	if got := nosto.last(t).vars.ID; got != want {
		t.Errorf("Nosto id %q, want the pseudonym %s", got, want)
	}

	hook := newWebhookFake(t, nil)
	wsink, err := NewWebhook(WebhookConfig{URL: hook.URL + "/hook", Secret: webhookTestSecret, Pseudonyms: testPseudonyms})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deliver(t, wsink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	var body struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(hook.all()[0].body, &body)
	if body.SessionID != want {
		t.Errorf("webhook session_id %q, want the pseudonym %s", body.SessionID, want)
	}
	for _, raw := range [][]byte{hook.all()[0].body, nosto.last(t).body} {
		if strings.Contains(string(raw), own) {
			t.Errorf("the raw id went out: %s", raw)
		}
	}
}

package delivery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

const canary = "pii-canary@example.org"

// Every form an upstream may echo a value in is redacted.
func TestSnippetRedactsEveryForm(t *testing.T) {
	h := NewHasher("k")
	ref := "cust-4711"
	forms := map[string]string{
		"verbatim":        "unknown email " + canary,
		"case-folded":     "unknown email " + strings.ToUpper(canary),
		"JSON-escaped":    `{"email":"pii-canary\u0040example.org"}`,
		"JSON \\/":        `{"ref":"a\/b\/c"}`,
		"percent-encoded": "bad request: email=" + url.QueryEscape(canary) + "&x=1",
		"path-escaped":    "no such /customers/" + url.PathEscape("a/b/c"),
		"percent, lower":  "email=pii-canary%40example.org",
		"hashed":          `{"profileId":"` + h.Hash(ref) + `"}`,
		"hashed, upper":   `profile ` + strings.ToUpper(h.Hash(ref)) + ` unknown`,
	}
	s := &model.Session{Customer: model.Customer{Email: canary, CustomerReference: ref, LastName: "a/b/c"}}
	personal := personalValues(s, h)
	for name, body := range forms {
		got := snippet([]byte(body), personal...)
		for _, leak := range []string{"pii-canary", "canary", "example.org", "a/b/c", `a\/b`, h.Hash(ref)[:12], strings.ToUpper(h.Hash(ref)[:12])} {
			if strings.Contains(got, leak) {
				t.Errorf("%s: %q leaks %q", name, got, leak)
			}
		}
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("%s: %q redacts nothing", name, got)
		}
	}
}

// A value straddling any cut never leaves its prefix: redaction comes
// before the cut, and an answer that breaks off inside a value has the
// start of it blanked.
func TestSnippetNeverLeavesAPrefix(t *testing.T) {
	// White space collapses, so the cut of the snippet falls far into the
	// answer; the old code cut at 2,048 bytes before redacting.
	for _, at := range []int{2030, 2040, 2045, 4090, 64<<10 - 8} {
		body := strings.Repeat(" ", at) + canary + " tail"
		if got := snippet([]byte(body), canary); strings.Contains(got, "pii-can") {
			t.Errorf("at %d: %q", at, got)
		}
	}
	for _, cut := range []int{3, 5, 10, len(canary) - 1} {
		body := `{"error":"no customer ` + canary[:cut]
		got := snippet([]byte(body), canary)
		if strings.Contains(got, canary[:cut]) || !strings.HasSuffix(got, "[redacted]") {
			t.Errorf("broken off after %d bytes: %q", cut, got)
		}
	}
	// Text that merely ends like the start of nothing personal stays.
	if got := snippet([]byte("error: pi"), canary); got != "error: pi" {
		t.Errorf("short tail: %q", got)
	}
}

// Through a real sink: an upstream answering 400 with the email
// percent-encoded gets no email into the error a log line is made of.
func TestSinkErrorRedactsPercentEncodedEcho(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("invalid parameter email=" + url.QueryEscape(canary)))
	}))
	defer srv.Close()
	wh, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	u := &Update{EventID: "e", Session: model.Session{ID: "s1", Version: 1, Customer: model.Customer{Email: canary}}}
	_, err = wh.Deliver(context.Background(), u)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != 400 {
		t.Fatalf("Deliver = %v", err)
	}
	if strings.Contains(de.Snippet, "canary") || strings.Contains(err.Error(), "canary") || !strings.Contains(de.Snippet, "[redacted]") {
		t.Errorf("snippet %q, error %q", de.Snippet, err)
	}
}

// snippet is a Redaction of only personal values, as the tests use it.
func snippet(body []byte, personal ...string) string {
	return Redaction{personal: personal}.Snippet(body)
}

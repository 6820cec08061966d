package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
	"github.com/sessiontap/caddy-sessiontap/webhook"
)

const webhookTestSecret = "whsec-test"

// webhookSeen is one request as a fake receiver got it.
type webhookSeen struct {
	header http.Header
	body   []byte
}

type webhookFake struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []webhookSeen
	answer func(w http.ResponseWriter)
}

func newWebhookFake(t *testing.T, answer func(w http.ResponseWriter)) *webhookFake {
	t.Helper()
	f := &webhookFake{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/hook" {
			t.Errorf("got %s %s, want POST /hook", r.Method, r.URL.Path)
		}
		f.mu.Lock()
		f.seen = append(f.seen, webhookSeen{header: r.Header.Clone(), body: body})
		f.mu.Unlock()
		if f.answer != nil {
			f.answer(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *webhookFake) all() []webhookSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]webhookSeen(nil), f.seen...)
}

func newTestWebhook(t *testing.T, f *webhookFake) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: f.URL + "/hook", Secret: webhookTestSecret})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func webhookTestUpdate(changed model.Change) *Update {
	price, _ := model.ParseDecimal("19.9")
	item := model.CartItem{ProductID: "p-1", SkuID: "s-1", Name: "Shirt", Quantity: 3, UnitPrice: price, PriceCurrencyCode: "EUR"}
	buyer := model.Customer{Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe", MarketingPermission: true}
	return &Update{
		EventID: "evt-42",
		Changed: changed,
		Session: model.Session{
			ID:        "sess-1",
			Version:   9,
			CreatedAt: time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC),
			Action:    model.ActionViewCart,
			Cart:      model.Cart{Items: []model.CartItem{item}},
			Customer: model.Customer{
				CustomerReference: "cust-4711", Email: "jane.doe@example.com",
				FirstName: "Jane", LastName: "Doe", MarketingPermission: false, Verified: true,
			},
			Orders: []model.Order{
				{OrderNumber: "A-1", Buyer: buyer, Items: []model.CartItem{item}},
				{OrderNumber: "A-2", Buyer: buyer, Items: []model.CartItem{item}},
			},
			Enrichment: model.Enrichment{
				FirstSeen: time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC), LastSeen: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC),
				PageViews: 3, LandingPage: "/?utm_source=news", Campaign: model.Campaign{Source: "news"},
				ClientIP: "203.0.113.0", UserAgent: "Mozilla/5.0",
			},
		},
		OccurredAt: time.Date(2025, 1, 2, 3, 4, 5, 123000000, time.FixedZone("CET", 3600)),
	}
}

func TestWebhookDeliver(t *testing.T) {
	f := newWebhookFake(t, nil)
	w := newTestWebhook(t, f)
	if w.Name() != "webhook" {
		t.Errorf("Name() = %q", w.Name())
	}
	u := webhookTestUpdate(model.ChangeCart | model.ChangeAction)
	if _, err := w.Deliver(context.Background(), u); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	seen := f.all()
	if len(seen) != 1 {
		t.Fatalf("%d requests", len(seen))
	}
	r := seen[0]

	if err := webhook.Verify(webhookTestSecret, r.header.Get("Sessiontap-Signature"), r.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature does not verify: %v (header %q)", err, r.header.Get("Sessiontap-Signature"))
	}
	if got := r.header.Get("Idempotency-Key"); got != u.EventID {
		t.Errorf("Idempotency-Key = %q, want %q", got, u.EventID)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}

	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body: %v: %s", err, r.body)
	}
	keys := []string{"event_id", "session_id", "epoch", "version", "action", "occurred_at", "cart", "customer", "order", "orders", "enrichment"}
	if len(body) != len(keys) {
		t.Errorf("body has %d fields, want %d: %s", len(body), len(keys), r.body)
	}
	want := map[string]string{
		"event_id":    `"evt-42"`,
		"session_id":  `"sess-1"`,
		"epoch":       `1735783200000`,
		"version":     `9`,
		"action":      `"viewCart"`,
		"occurred_at": `"2025-01-02T02:04:05.123Z"`,
		"order":       `null`,
		"orders":      `[]`,
		"enrichment": `{"first_seen":"2025-01-02T03:00:00Z","last_seen":"2025-01-02T03:04:00Z","page_views":3,` +
			`"landing_page":"/?utm_source=news","campaign":{"utm_source":"news"},"client_ip":"203.0.113.0","user_agent":"Mozilla/5.0"}`,
		"cart": `{"items":[{"product_id":"p-1","sku_id":"s-1","name":"Shirt","quantity":3,"unit_price":19.9,"price_currency_code":"EUR"}]}`,
		// As stored: the webhook is the operator's own endpoint. The shop's
		// server stated this customer.
		"customer": `{"customer_reference":"cust-4711","email":"jane.doe@example.com","first_name":"Jane","last_name":"Doe","marketing_permission":false,"verified":true}`,
	}
	for _, k := range keys {
		if string(body[k]) != want[k] {
			t.Errorf("%s = %s, want %s", k, body[k], want[k])
		}
	}
}

func TestWebhookOrderAndDataOnlyUpdates(t *testing.T) {
	f := newWebhookFake(t, nil)
	w := newTestWebhook(t, f)

	// An order: the last one, with its buyer, snake_case.
	if _, err := w.Deliver(context.Background(), webhookTestUpdate(model.ChangeOrder|model.ChangeCart|model.ChangeAction)); err != nil {
		t.Fatal(err)
	}
	// A cart change alone: no action, no order.
	if _, err := w.Deliver(context.Background(), webhookTestUpdate(model.ChangeCart)); err != nil {
		t.Fatal(err)
	}
	seen := f.all()
	var withOrder, cartOnly struct {
		Action *string          `json:"action"`
		Order  *json.RawMessage `json:"order"`
	}
	if err := json.Unmarshal(seen[0].body, &withOrder); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(seen[1].body, &cartOnly); err != nil {
		t.Fatal(err)
	}
	// A browser claimed this buyer: it is sent, saying so.
	wantOrder := `{"order_number":"A-2","buyer":{"email":"jane.doe@example.com","first_name":"Jane","last_name":"Doe","marketing_permission":true,"verified":false},"items":[{"product_id":"p-1","sku_id":"s-1","name":"Shirt","quantity":3,"unit_price":19.9,"price_currency_code":"EUR"}]}`
	if withOrder.Order == nil || string(*withOrder.Order) != wantOrder {
		t.Errorf("order = %s, want %s", webhookDeref(withOrder.Order), wantOrder)
	}
	if cartOnly.Order != nil || cartOnly.Action != nil {
		t.Errorf("cart-only update: action %v, order %s, want both null", cartOnly.Action, webhookDeref(cartOnly.Order))
	}
	if !strings.Contains(string(seen[1].body), `"order":null`) || !strings.Contains(string(seen[1].body), `"action":null`) {
		t.Errorf("cart-only update does not carry explicit nulls: %s", seen[1].body)
	}
}

func webhookDeref(m *json.RawMessage) string {
	if m == nil {
		return "<nil>"
	}
	return string(*m)
}

func TestWebhookRetriesAreSignedAnew(t *testing.T) {
	f := newWebhookFake(t, nil)
	w := newTestWebhook(t, f)
	start := time.Now()
	w.now = func() time.Time { return start }
	u := webhookTestUpdate(model.ChangeCart)
	if _, err := w.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return start.Add(time.Hour) }
	if _, err := w.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	seen := f.all()
	if string(seen[0].body) != string(seen[1].body) {
		t.Error("a retry changed the body")
	}
	later := start.Add(time.Hour)
	if err := webhook.Verify(webhookTestSecret, seen[1].header.Get(webhook.SignatureHeader), seen[1].body, later, time.Minute); err != nil {
		t.Errorf("retry: %v", err)
	}
	if err := webhook.Verify(webhookTestSecret, seen[0].header.Get(webhook.SignatureHeader), seen[0].body, later, time.Minute); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("first attempt replayed an hour later: err = %v, want webhook.ErrTimestamp", err)
	}
}

func TestWebhookHTTPClassification(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		retryable  bool
		wait       time.Duration
	}{
		{status: 500, retryable: true},
		{status: 503, retryAfter: "120", retryable: true, wait: 2 * time.Minute},
		{status: 429, retryAfter: "3", retryable: true, wait: 3 * time.Second},
		{status: 400},
		{status: 401},
		{status: 410},
		{status: 307},
	}
	for _, tc := range tests {
		f := newWebhookFake(t, func(w http.ResponseWriter) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			if tc.status == 307 {
				w.Header().Set("Location", "https://elsewhere.example/")
			}
			w.WriteHeader(tc.status)
			// The receiver echoes the customer's email: it must not reach a log.
			_, _ = io.WriteString(w, "rejected:\n\tjane.doe@example.com\n")
		})
		_, err := newTestWebhook(t, f).Deliver(context.Background(), webhookTestUpdate(model.ChangeCart))
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if de.Status != tc.status || de.Retryable != tc.retryable || de.RetryAfter != tc.wait {
			t.Errorf("%d: got status %d retryable %v wait %v, want retryable %v wait %v",
				tc.status, de.Status, de.Retryable, de.RetryAfter, tc.retryable, tc.wait)
		}
		if de.Snippet != "rejected: [redacted]" {
			t.Errorf("%d: Snippet = %q", tc.status, de.Snippet)
		}
		if n := len(f.all()); n != 1 {
			t.Errorf("%d: %d requests, want 1", tc.status, n)
		}
	}
}

func TestWebhookNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=secret-in-url"
	srv.Close()
	w, err := NewWebhook(WebhookConfig{URL: url, Secret: webhookTestSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Deliver(context.Background(), webhookTestUpdate(model.ChangeCart))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.Status != 0 {
		t.Fatalf("err = %#v, want a retryable network error", err)
	}
	if strings.Contains(err.Error(), "secret-in-url") {
		t.Errorf("the URL reached the error: %v", err)
	}
}

func TestWebhookCancelled(t *testing.T) {
	f := newWebhookFake(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTestWebhook(t, f).Deliver(ctx, webhookTestUpdate(model.ChangeCart))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNewWebhookConfig(t *testing.T) {
	for name, cfg := range map[string]WebhookConfig{
		"no secret":   {URL: "https://hooks.example/x"},
		"no url":      {Secret: "s"},
		"relative":    {URL: "/hook", Secret: "s"},
		"not http(s)": {URL: "ftp://hooks.example/", Secret: "s"},
	} {
		if _, err := NewWebhook(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSnippetRedacts(t *testing.T) {
	if got := snippet([]byte("Doe does\n not exist; DOE"), "Doe"); got != "[redacted] does not exist; [redacted]" {
		t.Errorf("got %q", got)
	}
	if got := snippet([]byte(strings.Repeat("x", 1000))); len(got) > MaxSnippet {
		t.Errorf("snippet of %d bytes", len(got))
	}
	if got := snippet([]byte("a\xffb")); got != "a\uFFFDb" {
		t.Errorf("got %q", got)
	}
}

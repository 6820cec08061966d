package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
	"github.com/sessiontap/caddy-sessiontap/webhook"
)

// WebhookConfig configures a Webhook sink.
type WebhookConfig struct {
	// URL is the http(s) URL that updates are POSTed to.
	URL string
	// Secret is the shared HMAC-SHA256 key, used as its bytes (no hex or
	// base64 decoding). Required.
	Secret string
	// Pseudonyms replaces our own session ids with their pseudonyms; nil
	// uses an empty key (see NewPseudonyms).
	Pseudonyms *Pseudonyms
	// Client sends the requests; nil uses a shared NewClient(0). Give
	// each sink its own NewClient(concurrency) so that its connections
	// are kept.
	Client *http.Client
	// Secrets are the configuration's, shared by its sinks, redacted from
	// the upstream's answers like the signing secret. May be nil.
	Secrets *Secrets
}

// Webhook POSTs every update to the operator's own endpoint as JSON.
//
// # Body
//
// One JSON object per update, Content-Type application/json:
//
//	{
//	  "event_id":    "…",                 // unique per update, also the Idempotency-Key header
//	  "session_id":  "…",                 // our own ids as their pseudonym (Pseudonyms)
//	  "epoch":       1735787045123,       // when the session was created (ms since 1970)
//	  "version":     42,                  // the session's version; increases per session
//	                                      // and epoch
//	  "action":      "viewCart",          // the action this update records, null for a
//	                                      // data-only update (cart/customer/order change)
//	  "occurred_at": "2025-01-02T03:04:05.123Z",
//	  "cart":        {"items": [{"product_id": …, "sku_id": …, "name": …, "quantity": …,
//	                             "unit_price": 12.5, "price_currency_code": …}]},
//	  "customer":    {"customer_reference": …, "email": …, "first_name": …, "last_name": …,
//	                  "marketing_permission": false, "customer_group": …, "verified": true},
//	  "order":       null,                // the newest of orders, when there are any
//	  "orders":      [],                  // every order placed since the last update this
//	                                      // endpoint received, oldest first; each is sent once
//	                                      // (at least once: drop repeats by order_number)
//	  "enrichment":  {"first_seen": …, "last_seen": …, "page_views": 3, "landing_page": …,
//	                  "referrer": …, "campaign": {"utm_source": …, …}, "client_ip": …,
//	                  "user_agent": …, "accept_language": …}
//	}
//
// cart, customer, order and enrichment are encoded exactly as in the session API
// (snake_case; empty strings are left out; prices are exact decimals).
// Delivery is at least once and in version order per session: use
// event_id to drop duplicates and (epoch, version) to drop stale updates.
// A session lost with its store (a Redis restarted without persistence)
// and then written again under the same session_id starts over at
// version 1, with a later epoch: drop an update as stale only when its
// epoch is lower than the last one taken for the session_id, or equal
// with a version not higher. Comparing versions alone would drop every
// update of the new session until it passed the old version.
//
// # Personal data
//
// The customer and the order's buyer are sent as stored, unhashed, with
// "verified": false when only a browser claimed them (treat those as a
// claim, never as a login): the webhook is the operator's own endpoint
// (typically the shop's own service), unlike third-party sinks, which get
// pseudonymised data only. Use an https URL outside a trusted network.
//
// session_id is, like at every sink, the pseudonym of one of our own
// session ids (Pseudonyms.SessionID), since our id is the key to the
// session; an external id is sent as it is.
//
// # Signature
//
// Every request carries
//
//	Sessiontap-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC is keyed with the shared secret and computed over the
// bytes of t, a '.', and the exact request body: HMAC(secret, "<t>.<body>").
// t is the time of the attempt, so a retry is signed anew. A receiver
// should (webhook.Verify, in this module's public webhook package, does
// all of it):
//
//  1. read the raw body before parsing it;
//  2. split the header on ',' into key=value pairs; take t, and every v1
//     (more than one may appear in future, e.g. during a secret rotation;
//     unknown keys are to be ignored);
//  3. compute the HMAC over "<t>.<body>" and compare it with each v1 in
//     constant time; accept if one matches;
//  4. reject t further than a few minutes from its own clock, so that a
//     recorded request cannot be replayed later;
//  5. drop duplicates by event_id (Idempotency-Key), since delivery is at
//     least once.
//
// Any 2xx answer is success. 5xx and 429 are retried (after Retry-After,
// in seconds or as an HTTP date, when given); network errors are
// retried; other answers, redirects included, are not.
type Webhook struct {
	url    string
	secret []byte
	ids    *Pseudonyms
	client *http.Client
	now    func() time.Time
	// redactor knows the secret and the configuration's other secrets.
	redactor *Redactor
}

// NewWebhook returns a webhook sink for cfg.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := validateEndpointURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if cfg.Secret == "" {
		return nil, errors.New("webhook: a secret is required to sign requests")
	}
	client := cfg.Client
	red := sinkRedactor(append([]string{cfg.Secret}, urlSecrets(cfg.URL)...), cfg.Secrets, nil)
	return &Webhook{url: cfg.URL, secret: []byte(cfg.Secret), ids: cfg.Pseudonyms, client: client, now: time.Now, redactor: red}, nil
}

// Name returns "webhook".
func (w *Webhook) Name() string { return "webhook" }

// webhookBody is the JSON a webhook receives; see Webhook.
type webhookBody struct {
	EventID    string           `json:"event_id"`
	SessionID  string           `json:"session_id"`
	Epoch      int64            `json:"epoch"`
	Version    uint64           `json:"version"`
	Action     *model.Action    `json:"action"`
	OccurredAt time.Time        `json:"occurred_at"`
	Cart       model.Cart       `json:"cart"`
	Customer   model.Customer   `json:"customer"`
	Order      *model.Order     `json:"order"`
	Orders     []model.Order    `json:"orders"`
	Enrichment model.Enrichment `json:"enrichment"`
}

func webhookPayload(u *Update, ids *Pseudonyms) ([]byte, error) {
	s := &u.Session
	b := webhookBody{
		EventID:    u.EventID,
		SessionID:  ids.SessionID(s.ID),
		Epoch:      s.CreatedAt.UnixMilli(),
		Version:    s.Version,
		OccurredAt: u.OccurredAt.UTC(),
		Cart:       s.Cart,
		Customer:   s.Customer,
		Enrichment: s.Enrichment,
	}
	if u.Changed&model.ChangeAction != 0 && s.Action != "" {
		a := s.Action
		b.Action = &a
	}
	// Orders are events: every one the endpoint has not had, even when
	// the updates that placed them were coalesced into this one.
	b.Orders = u.NewOrders()
	for i := range b.Orders {
		if b.Orders[i].Items == nil {
			b.Orders[i].Items = []model.CartItem{}
		}
	}
	if n := len(b.Orders); n > 0 {
		b.Order = &b.Orders[n-1]
	} else {
		b.Orders = []model.Order{}
	}
	return json.Marshal(&b)
}

// Deliver POSTs u, signed; see Webhook.
func (w *Webhook) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	body, err := webhookPayload(u, w.ids)
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("webhook: encoding the update: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("webhook: %w", err)}
	}
	t := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "caddy-sessiontap")
	req.Header.Set("Idempotency-Key", u.EventID)
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(w.secret, t, body))

	red := w.redactor.For(personalValues(&u.Session, nil))
	resp, err := DoHTTP(ctx, w.client, req, 0)
	if err != nil {
		return Feedback{}, red.Err(err)
	}
	return Feedback{}, ClassifyHTTPResponse(resp, w.now(), red)
}

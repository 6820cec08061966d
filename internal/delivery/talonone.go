package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// TalonOneConfig configures the Talon.One sink.
type TalonOneConfig struct {
	// URL is the Application's base URL, e.g. https://yourbase.talon.one.
	URL string
	// APIKey is an Integration API key; it is sent as "ApiKey-v1 <key>".
	APIKey string
	// Dry sends every update with ?dry=true: Talon.One evaluates the
	// session and answers with effects but persists nothing.
	Dry bool
	// ResponseContent asks Talon.One to add these entities to its answer
	// (customerSession, customerProfile, …). Only the effects are kept.
	ResponseContent []string
	// Hasher pseudonymises the customer reference into the profileId.
	Hasher *Hasher
	// Pseudonyms replaces our own session ids with their pseudonyms; nil
	// uses an empty key (see NewPseudonyms).
	Pseudonyms *Pseudonyms
	// Client sends the requests; nil uses a shared NewClient(0). Give
	// each sink its own NewClient(concurrency) so that its connections
	// are kept.
	Client *http.Client
	// Secrets are the configuration's, shared by its sinks: an upstream
	// that echoes must not show them in an error either (the API key is
	// redacted anyway). May be nil.
	Secrets *Secrets
}

// TalonOne updates Talon.One customer sessions
// (PUT /v2/customer_sessions/{customerSessionId}, updateCustomerSessionV2)
// and keeps the effects Talon.One answers with.
//
// What leaves the process: the session's id (the pseudonym of one of our
// own ids, an external id as it is: Pseudonyms.SessionID), the cart's
// lines (SKU, product name, quantity, unit price) and, for a logged-in
// customer whose identity the shop's server stated
// (model.Customer.Verified), the HMAC of the customer reference as
// profileId; a customer only a browser claimed is sent as a guest. Never
// an email, a name or a customer reference in clear; no identifiers and
// no attributes (custom attributes must exist in the Campaign Manager
// first, or Talon.One refuses the request). No item category either: sessiontap only knows the last
// category the visitor viewed, which is not the category of the items in
// the cart, and promotion rules on categories would match wrongly.
//
// Session states. A sessiontap session is open while the visitor shops and
// closed once an order is placed (and its cart emptied). The Talon.One
// session is closed with the order's lines as its cart items — closing is
// what confirms the effects, consumes budgets and credits loyalty points, so
// it must carry what was bought, not the emptied cart. When the order has no
// lines, cartItems are left out so that Talon.One closes the session with
// the cart it last got.
//
// A closed Talon.One session cannot be reopened with this endpoint (only
// with /reopen, which rolls back the closed session's effects). When the
// visitor shops again after an order, sessiontap reopens its session, and
// this sink moves to a new Talon.One session whose id is "{id}-{n}", n the
// number of orders placed before it: each purchase is its own Talon.One
// session. Since a session keeps at most model.MaxOrders orders, the
// ids stop advancing after that many orders in one session: later
// purchases would go to an already closed Talon.One session.
//
// A closed Talon.One session takes no more updates, so once this sink has
// closed one it sends nothing more for it (page views and logins on the
// thank-you page): Deliver returns a zero Feedback. It remembers the last
// talonMaxClosed sessions it closed; after a restart or beyond that, the
// first update of an already closed session is sent again (should
// Talon.One refuse it, that is a non-retryable error, logged and dropped). Which updates reach the sink at all
// (page views or only data changes) is the engine's SinkOptions.On;
// OnChange suits Talon.One, whose effects depend on cart and customer.
type TalonOne struct {
	base            string
	auth            string
	dry             bool
	responseContent []string
	hasher          *Hasher
	ids             *Pseudonyms
	client          *http.Client
	redactor        *Redactor
	// closed holds the Talon.One session ids this sink closed.
	closed State
}

// talonResponseContent are the values IntegrationRequest.responseContent
// allows.
var talonResponseContent = []string{
	"customerSession", "customerProfile", "coupons", "triggeredCampaigns",
	"referral", "loyalty", "event", "awardedGiveaways", "ruleFailureReasons",
	"previousReturns",
}

// Talon.One's limits per request (NewCustomerSessionV2.cartItems).
const (
	talonMaxItems    = 1000
	talonMaxQuantity = 10000
	// talonMaxResponse bounds the answer: effects plus whatever
	// ResponseContent asked for (a profile with loyalty cards can be large).
	talonMaxResponse = 8 << 20
	// talonMaxClosed bounds the closed sessions remembered.
	talonMaxClosed = 100_000
)

// NewTalonOne checks cfg and returns the sink.
func NewTalonOne(cfg TalonOneConfig) (*TalonOne, error) {
	base, err := ValidateBaseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("talonone: %w", err)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("talonone: an API key is required")
	}
	if cfg.Hasher == nil {
		return nil, errors.New("talonone: a Hasher is required")
	}
	for _, rc := range cfg.ResponseContent {
		if !slices.Contains(talonResponseContent, rc) {
			return nil, fmt.Errorf("talonone: unknown responseContent %q (one of %v)", rc, talonResponseContent)
		}
	}
	return &TalonOne{
		base:            base,
		auth:            "ApiKey-v1 " + cfg.APIKey,
		dry:             cfg.Dry,
		responseContent: slices.Clone(cfg.ResponseContent),
		hasher:          cfg.Hasher,
		ids:             cfg.Pseudonyms,
		client:          cfg.Client,
		redactor:        sinkRedactor([]string{cfg.APIKey}, cfg.Secrets, nil),
		closed:          newMemState(talonMaxClosed),
	}, nil
}

// Name implements Sink.
func (t *TalonOne) Name() string { return "talonone" }

// talonRequest is Talon.One's IntegrationRequest.
type talonRequest struct {
	CustomerSession talonSession `json:"customerSession"`
	ResponseContent []string     `json:"responseContent,omitempty"`
}

// talonSession is the part of NewCustomerSessionV2 that sessiontap fills.
type talonSession struct {
	// ProfileID is the customer profile's integration id; "" makes an
	// anonymous session, as documented.
	ProfileID string `json:"profileId"`
	State     string `json:"state"`
	// CartItems is omitted when nil (keep Talon.One's), sent when empty
	// (the cart was emptied).
	CartItems []talonCartItem `json:"cartItems,omitzero"`
}

// talonCartItem is Talon.One's CartItem.
type talonCartItem struct {
	Name     string `json:"name,omitempty"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	// Price is left out when unknown (zero), so that a catalog price
	// applies instead of 0.
	Price *model.Decimal `json:"price,omitempty"`
}

// Deliver implements Sink.
func (t *TalonOne) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	s := &u.Session
	if s.ID == "" {
		return Feedback{}, &DeliveryError{Err: errors.New("talonone: update without a session id")}
	}
	id, body := t.request(s)
	closing := body.CustomerSession.State == string(model.StateClosed)
	if closing {
		if _, done := t.closed.Get(ctx, id); done {
			return Feedback{}, nil
		}
	}
	seg, err := PathSegment(id)
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("talonone: %w", err)}
	}
	target := t.base + "/v2/customer_sessions/" + seg
	if t.dry {
		target += "?dry=true"
	}
	req, err := NewJSONRequest(ctx, http.MethodPut, target, body)
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("talonone: %w", err)}
	}
	req.Header.Set("Authorization", t.auth)
	red := t.redactor.For(personalValues(&u.Session, t.hasher))
	resp, err := DoHTTP(ctx, t.client, req, talonMaxResponse)
	if err != nil {
		return Feedback{}, red.Err(err)
	}
	// 409: two requests for the same session ran in parallel; the next
	// attempt, alone, succeeds.
	if err := ClassifyHTTPResponse(resp, time.Now(), red, http.StatusConflict); err != nil {
		return Feedback{}, err
	}
	var state struct {
		Effects json.RawMessage `json:"effects"`
	}
	if err := json.Unmarshal(resp.Body, &state); err != nil {
		return Feedback{}, &DeliveryError{Status: resp.Status, Snippet: red.Snippet(resp.Body),
			Err: fmt.Errorf("talonone: reading IntegrationStateV2: %w", err)}
	}
	if string(state.Effects) == "null" {
		state.Effects = nil
	}
	if closing && !t.dry {
		t.closed.Put(ctx, id, "1")
	}
	return Feedback{Effects: state.Effects}, nil
}

// UseState implements Stateful: closed sessions are kept in st from now on.
func (t *TalonOne) UseState(st State) { t.closed = st }

// request returns the Talon.One session id and the request body for s.
func (t *TalonOne) request(s *model.Session) (string, talonRequest) {
	closed := s.State == model.StateClosed
	// journey is how many orders were placed before the current Talon.One
	// session started.
	journey := len(s.Orders)
	if closed && journey > 0 {
		journey--
	}
	id := t.ids.SessionID(s.ID)
	if journey > 0 {
		id += "-" + strconv.Itoa(journey)
	}

	// Only a verified customer is a profile: a browser's claim must not
	// earn it another customer's effects.
	ref := s.Customer.Trusted().CustomerReference
	sess := talonSession{State: string(model.StateOpen)}
	if closed {
		sess.State = string(model.StateClosed)
		if len(s.Orders) > 0 {
			last := s.Orders[len(s.Orders)-1]
			if len(last.Items) > 0 {
				sess.CartItems = talonItems(last.Items)
			}
			if ref == "" {
				ref = last.Buyer.Trusted().CustomerReference
			}
		} else {
			sess.CartItems = talonItems(s.Cart.Items)
		}
	} else {
		sess.CartItems = talonItems(s.Cart.Items)
	}
	sess.ProfileID = t.hasher.Hash(ref)
	return id, talonRequest{CustomerSession: sess, ResponseContent: t.responseContent}
}

// talonItems converts cart lines to Talon.One cart items, never nil. Lines
// Talon.One would refuse (no SKU or product id, quantity < 1) are left out,
// as are lines beyond its limits of 1000 lines and 10,000 units per request
// (the line that crosses the unit limit is cut down to fit).
func talonItems(items []model.CartItem) []talonCartItem {
	out := make([]talonCartItem, 0, min(len(items), talonMaxItems))
	units := 0
	for _, it := range items {
		if len(out) == talonMaxItems || units == talonMaxQuantity {
			break
		}
		sku := it.SkuID
		if sku == "" {
			sku = it.ProductID
		}
		if sku == "" || it.Quantity < 1 {
			continue
		}
		q := min(it.Quantity, talonMaxQuantity-units)
		units += q
		ci := talonCartItem{Name: it.Name, SKU: sku, Quantity: q}
		if it.UnitPrice != 0 {
			p := it.UnitPrice
			ci.Price = &p
		}
		out = append(out, ci)
	}
	return out
}

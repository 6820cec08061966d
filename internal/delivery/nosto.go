package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// DefaultNostoURL is Nosto's GraphQL endpoint.
const DefaultNostoURL = "https://api.nosto.com/v1/graphql"

// NostoConfig configures a Nosto sink.
type NostoConfig struct {
	// URL is the GraphQL endpoint; "" means DefaultNostoURL.
	URL string
	// Token is a Nosto API token with GraphQL access. Required.
	Token string
	// Hasher pseudonymises the customer reference. Required.
	Hasher *Hasher
	// Pseudonyms replaces our own session ids with their pseudonyms; nil
	// uses an empty key (see NewPseudonyms).
	Pseudonyms *Pseudonyms
	// Client sends the requests; nil uses a shared NewClient(0). Give
	// each sink its own NewClient(concurrency) so that its connections
	// are kept.
	Client *http.Client
	// Secrets are the configuration's, shared by its sinks, redacted from
	// the upstream's answers like the token. May be nil.
	Secrets *Secrets
	// SessionIsCID says the sessions' external ids are Nosto's customer
	// ids (the 2c.cId cookie): orders are sent by them (BY_CID).
	SessionIsCID bool
	// OnUnattributed, when set, is called for each order not sent because
	// neither Nosto's customer id nor a verified customer is known.
	OnUnattributed func()
}

// Nosto keeps Nosto's view of a session (cart, customer, page views) in
// step with sessiontap's, through Nosto's GraphQL API, so that Nosto can
// personalise and send abandoned-cart emails for sessions it does not see
// through its own JavaScript.
//
// # Request
//
// Our understanding of Nosto's updateSession mutation, from its GraphQL
// docs ("Onsite Sessions", "For Headless", "Using Mutations"): every update
// is one POST to the GraphQL endpoint, HTTP basic auth with an empty user
// name and the API token as password, Content-Type application/json, body
// {"query": nostoUpdateSessionQuery, "variables": {…}}, with every value a
// variable (nothing is spliced into the query text):
//
//	mutation SessiontapUpdateSession($by: LookupParams!, $id: String!, $params: InputSessionParams) {
//	  updateSession(by: $by, id: $id, params: $params) { id }
//	}
//
//	{"by": "BY_CID", "id": "<session id>", "params": {
//	  "event":      {"type": "VIEWED_PRODUCT", "target": "<product id>"},   // left out with skipEvents
//	  "skipEvents": false,
//	  "cart":       {"items": [{"productId", "skuId", "name", "quantity", "unitPrice", "priceCurrencyCode"}]},
//	  "customer":   {"customerReference": "<HMAC>", "marketingPermission": true,
//	                 "firstName", "lastName", "email"}                      // names and email with consent only
//	}}
//
// by BY_CID means the id is Nosto's own customer id (its 2c.cId cookie, or
// what newSession returned): the session id must be taken from that
// cookie (`session cookie 2c.cId`) for Nosto to recognise the visitor.
//
// # Events
//
// An update that records an action (Changed has model.ChangeAction) sends the
// matching event, which Nosto counts as a page view:
//
//	viewProduct   VIEWED_PRODUCT,  target the product id
//	viewCategory  VIEWED_CATEGORY, target the category path (nosto_category)
//	viewSearch    SEARCHED_FOR,    target the search term
//	viewCart, viewFrontPage, viewNotFound, addOrder, viewOther
//	              VIEWED_PAGE,     target the page type (cart, front, notfound, order, other)
//
// Nosto documents VIEWED_PAGE's target as the page's URL; sessions do not
// keep URLs, so the page type stands in. A product, category or search
// view whose product id, category or term is unknown is sent as
// VIEWED_PAGE too. An update without an action (a cart or customer change
// only) sets skipEvents, which Nosto documents for exactly that case, so
// that no page view is counted. The order itself is sent with placeOrder
// first (see nosto_orders.go).
//
// # Data sent
//
// The cart is always sent whole (Nosto's carts are 1:1 copies; an empty
// list empties it). The customer is sent when one whose identity the
// shop's server stated (model.Customer.Verified) is known, or when the
// update removed the customer; a customer only a browser claimed is never
// sent, nor its marketing permission. When sent: marketingPermission
// always, customerReference only as the Hasher's HMAC (never in clear),
// and firstName, lastName and email only when marketingPermission is
// true, since Nosto needs them only for triggered emails, which it may
// send only with consent. The customer group and past orders are not
// sent.
//
// # Answers
//
// HTTP 200 with no "errors" is success. A GraphQL "errors" array is a
// failure, retried only when an error says it is a rate limit. Network
// errors, 5xx and 429 are retried (after Retry-After, in seconds or as an
// HTTP date); other statuses are not. Retries are not idempotent on
// Nosto's side: a retried page view may be counted twice.
type Nosto struct {
	url    string
	token  string
	hasher *Hasher
	ids    *Pseudonyms
	client *http.Client
	now    func() time.Time
	// redactor knows the token and the configuration's other secrets.
	redactor *Redactor
	// state remembers the orders and statuses sent (see nosto_orders.go).
	state          State
	sessionIsCID   bool
	onUnattributed func()
}

// nostoMaxOrders bounds the orders a Nosto sink remembers as sent, without
// Redis.
const nostoMaxOrders = 100_000

// NewNosto returns a Nosto sink for cfg.
func NewNosto(cfg NostoConfig) (*Nosto, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultNostoURL
	}
	if err := validateEndpointURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("nosto: %w", err)
	}
	if cfg.Token == "" {
		return nil, errors.New("nosto: an API token is required")
	}
	if cfg.Hasher == nil {
		return nil, errors.New("nosto: a Hasher is required: customer references leave only hashed")
	}
	client := cfg.Client
	// Basic credentials ":token" are redacted as the token's base64.
	red := sinkRedactor(append([]string{cfg.Token}, urlSecrets(cfg.URL)...), cfg.Secrets, nil)
	return &Nosto{url: cfg.URL, token: cfg.Token, hasher: cfg.Hasher, ids: cfg.Pseudonyms, client: client, now: time.Now, redactor: red,
		state: newMemState(nostoMaxOrders), sessionIsCID: cfg.SessionIsCID, onUnattributed: cfg.OnUnattributed}, nil
}

// Name returns "nosto".
func (n *Nosto) Name() string { return "nosto" }

// nostoUpdateSessionQuery is the only query this sink sends; see Nosto.
const nostoUpdateSessionQuery = `mutation SessiontapUpdateSession($by: LookupParams!, $id: String!, $params: InputSessionParams) {
  updateSession(by: $by, id: $id, params: $params) {
    id
  }
}`

type nostoRequest struct {
	Query     string         `json:"query"`
	Variables nostoVariables `json:"variables"`
}

type nostoVariables struct {
	By     string      `json:"by"`
	ID     string      `json:"id"`
	Params nostoParams `json:"params"`
}

type nostoParams struct {
	Event      *nostoEvent    `json:"event,omitempty"`
	SkipEvents bool           `json:"skipEvents"`
	Cart       nostoCart      `json:"cart"`
	Customer   *nostoCustomer `json:"customer,omitempty"`
}

type nostoEvent struct {
	Type   string `json:"type"`
	Target string `json:"target,omitempty"`
}

type nostoCart struct {
	Items []nostoCartItem `json:"items"`
}

type nostoCartItem struct {
	ProductID         string        `json:"productId"`
	SkuID             string        `json:"skuId,omitempty"`
	Name              string        `json:"name,omitempty"`
	Quantity          int           `json:"quantity"`
	UnitPrice         model.Decimal `json:"unitPrice"`
	PriceCurrencyCode string        `json:"priceCurrencyCode,omitempty"`
}

type nostoCustomer struct {
	CustomerReference   string `json:"customerReference,omitempty"`
	MarketingPermission bool   `json:"marketingPermission"`
	FirstName           string `json:"firstName,omitempty"`
	LastName            string `json:"lastName,omitempty"`
	Email               string `json:"email,omitempty"`
}

// nostoPageTargets are the actions sent as VIEWED_PAGE, with their target.
var nostoPageTargets = map[model.Action]model.PageType{
	model.ActionViewFrontPage: model.PageFront,
	model.ActionViewCart:      model.PageCart,
	model.ActionViewNotFound:  model.PageNotFound,
	model.ActionAddOrder:      model.PageOrder,
	model.ActionViewOther:     model.PageOther,
	model.ActionViewProduct:   model.PageProduct,
	model.ActionViewCategory:  model.PageCategory,
	model.ActionViewSearch:    model.PageSearch,
}

// nostoEventFor is the event for s's action, or nil when it has none that
// Nosto knows.
func nostoEventFor(s *model.Session) *nostoEvent {
	switch s.Action {
	case model.ActionViewProduct:
		if s.Product != nil && s.Product.ProductID != "" {
			return &nostoEvent{Type: "VIEWED_PRODUCT", Target: s.Product.ProductID}
		}
	case model.ActionViewCategory:
		if s.Category != "" {
			return &nostoEvent{Type: "VIEWED_CATEGORY", Target: s.Category}
		}
	case model.ActionViewSearch:
		if s.SearchTerm != "" {
			return &nostoEvent{Type: "SEARCHED_FOR", Target: s.SearchTerm}
		}
	}
	if page, ok := nostoPageTargets[s.Action]; ok {
		return &nostoEvent{Type: "VIEWED_PAGE", Target: string(page)}
	}
	return nil
}

// nostoVariablesFor builds the mutation's variables for u; see Nosto.
func (n *Nosto) nostoVariablesFor(u *Update) nostoVariables {
	s := &u.Session
	v := nostoVariables{By: "BY_CID", ID: n.ids.SessionID(s.ID)}
	p := &v.Params
	if u.Changed&model.ChangeAction != 0 {
		p.Event = nostoEventFor(s)
	}
	p.SkipEvents = p.Event == nil

	p.Cart.Items = make([]nostoCartItem, 0, len(s.Cart.Items))
	for _, it := range s.Cart.Items {
		p.Cart.Items = append(p.Cart.Items, nostoCartItem{
			ProductID:         it.ProductID,
			SkuID:             it.SkuID,
			Name:              it.Name,
			Quantity:          it.Quantity,
			UnitPrice:         it.UnitPrice,
			PriceCurrencyCode: it.PriceCurrencyCode,
		})
	}

	// Only a verified customer is sent: a browser's claim is neither an
	// identity nor consent. A change to no customer at all (a logout) is
	// sent, so that Nosto forgets the customer.
	c := s.Customer.Trusted()
	// A customer change that leaves no trusted customer is a logout for
	// Nosto, claimed one or not: a verified customer, reset and then
	// claimed while the update waited, must not stay Nosto's.
	if !c.IsZero() || u.Changed&model.ChangeCustomer != 0 {
		p.Customer = &nostoCustomer{
			CustomerReference:   n.hasher.Hash(c.CustomerReference),
			MarketingPermission: c.MarketingPermission,
		}
		if c.MarketingPermission {
			p.Customer.FirstName = c.FirstName
			p.Customer.LastName = c.LastName
			p.Customer.Email = c.Email
		}
	}
	return v
}

// nostoAnswer is the part of a GraphQL answer the sink reads.
type nostoAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code           string `json:"code"`
			Classification string `json:"classification"`
		} `json:"extensions"`
	} `json:"errors"`
}

// nostoAnswerMax is how much of a GraphQL answer is read; ours asks only
// for the session's id.
const nostoAnswerMax = 1 << 20

// Deliver sends u's new orders (placeOrder) and order status changes
// (updateStatus), then u with the updateSession mutation; see Nosto.
func (n *Nosto) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	red := n.redactor.For(personalValues(&u.Session, n.hasher))
	if err := n.deliverOrders(ctx, u, red); err != nil {
		return Feedback{}, err
	}
	body, err := json.Marshal(nostoRequest{Query: nostoUpdateSessionQuery, Variables: n.nostoVariablesFor(u)})
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("nosto: encoding the mutation: %w", err)}
	}
	return Feedback{}, n.send(ctx, body, u.EventID, red)
}

// send posts one GraphQL request, with key as its Idempotency-Key, and
// classifies the answer.
func (n *Nosto) send(ctx context.Context, body []byte, key string, red Redaction) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("nosto: %w", err)}
	}
	req.SetBasicAuth("", n.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "caddy-sessiontap")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := DoHTTP(ctx, n.client, req, nostoAnswerMax)
	if err != nil {
		return red.Err(err)
	}
	if err := ClassifyHTTPResponse(resp, n.now(), red); err != nil {
		return err
	}
	return nostoAnswerError(resp, red, n.now())
}

// nostoAnswerError reads a 200's GraphQL answer: nil for data without
// errors.
func nostoAnswerError(resp *HTTPResponse, red Redaction, now time.Time) error {
	answer := resp.Body
	var a nostoAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return &DeliveryError{
			Status:  resp.Status,
			Snippet: red.Snippet(answer),
			Err:     fmt.Errorf("nosto: the answer is not GraphQL JSON: %w", err),
		}
	}
	if len(a.Errors) > 0 {
		msgs := make([]string, 0, len(a.Errors))
		limited := false
		for _, e := range a.Errors {
			msgs = append(msgs, e.Message)
			limited = limited || nostoRateLimited(e.Message) ||
				nostoRateLimited(e.Extensions.Code) || nostoRateLimited(e.Extensions.Classification)
		}
		de := &DeliveryError{
			Status:    resp.Status,
			Retryable: limited,
			Snippet:   red.Snippet([]byte(strings.Join(msgs, "; "))),
			Err:       fmt.Errorf("nosto: GraphQL answered %d error(s)", len(a.Errors)),
		}
		if limited {
			de.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return de
	}
	if len(a.Data) == 0 || string(a.Data) == "null" {
		return &DeliveryError{
			Status:  resp.Status,
			Snippet: red.Snippet(answer),
			Err:     errors.New("nosto: GraphQL answer without data or errors"),
		}
	}
	return nil
}

// nostoRateLimited reports whether a GraphQL error's text says rate limit.
func nostoRateLimited(s string) bool {
	s = strings.ToLower(s)
	s = strings.NewReplacer("_", " ", "-", " ").Replace(s)
	for _, w := range []string{"rate limit", "ratelimit", "too many requests", "throttl"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

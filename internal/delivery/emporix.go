package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// EmporixConfig configures the Emporix sink.
type EmporixConfig struct {
	// URL is the API's base URL, e.g. https://api.emporix.io.
	URL string
	// AuthURL is the OAuth2 token endpoint; {URL}/oauth/token when empty.
	AuthURL string
	// Tenant is the Emporix tenant.
	Tenant string
	// ClientID and ClientSecret are a service API key's credentials, with
	// the scope sessioncontext.context_manage.
	ClientID, ClientSecret string
	// SiteCode is sent as the context's siteCode when set.
	SiteCode string
	// Hasher pseudonymises the customer reference.
	Hasher *Hasher
	// Pseudonyms replaces our own session ids with their pseudonyms; nil
	// uses an empty key (see NewPseudonyms).
	Pseudonyms *Pseudonyms
	// Client sends the requests; nil uses a shared NewClient(0). Give
	// each sink its own NewClient(concurrency) so that its connections
	// are kept.
	Client *http.Client
	// Secrets are the configuration's, shared by its sinks, redacted from
	// the upstream's answers like the client id and secret and the access
	// tokens, which this sink adds to them. May be nil.
	Secrets *Secrets
}

// Emporix writes sessions to Emporix's Session Context Service
// (PUT /session-context/{tenant}/context/{sessionId}?upsert=true) with a
// client-credentials token.
//
// The session id in the path and the body is the pseudonym of one of our
// own ids, an external id as it is (Pseudonyms.SessionID).
//
// The body is a SessionContext_PUT: sessionId, siteCode (configured),
// currency (the cart's, else the session's variation when it is a
// three-letter code), cartId (the shop's cart token) and context with two
// objects, "cart" (lines with product id, SKU, name, quantity, unit price
// and currency; total) and, for a logged-in customer whose identity the
// shop's server stated (model.Customer.Verified), "customer" ({"id": HMAC
// of the reference, "group": the customer group}). No email, name or
// reference in clear. targetLocation is never sent: sessiontap has no
// country it could vouch for.
//
// customerId is not sent either, though the schema has it: the spec says
// that a context with a customerId needs the customer's own saas-token
// header, which a server-side sink does not have, and customerId is
// Emporix's id of the customer — a hash in its place would point nowhere
// and overwrite the storefront's.
//
// Versions. Emporix locks optimistically: a PUT carries the context's
// current metadata.version and answers 204 without a body, so the sink
// keeps, per session, the version Emporix should now hold (the version it
// wrote plus one) in a bounded map (emporixMaxVersions sessions, least
// recently used dropped). For a session it does not know (first write, or
// after a restart or eviction) it GETs the context first: its version, or
// on 404 a creation by upsert with version 1, after which the context is
// expected at version 1. On 409 or 412 it GETs the context, takes its
// metadata.version and repeats the PUT once; a second conflict is a
// retryable DeliveryError. Feedback.ContextVersion is the version expected
// after the write (a version in a 2xx body, should Emporix ever send one,
// wins). Should Emporix count differently than assumed (a creation ending
// at another version), the next write takes the conflict path once and is
// back in step.
type Emporix struct {
	base, authURL    string
	tenant           string
	clientID, secret string
	siteCode         string
	hasher           *Hasher
	ids              *Pseudonyms
	client           *http.Client
	now              func() time.Time
	// redactor knows the client id and secret, the configuration's other
	// secrets and (asking tokens) the access tokens in use.
	redactor *Redactor

	// tokenLock serialises token fetches; a channel so that waiting
	// honours the caller's context.
	tokenLock chan struct{}
	mu        sync.Mutex // guards token and expiry
	token     string
	expiry    time.Time
	// oldToken is the token last replaced or dropped: an answer to a
	// request sent with it may still arrive.
	oldToken string
	versions State
}

// emporixMaxVersions bounds the sessions whose context version is kept.
const emporixMaxVersions = 100_000

// NewEmporix checks cfg and returns the sink.
func NewEmporix(cfg EmporixConfig) (*Emporix, error) {
	base, err := ValidateBaseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("emporix: %w", err)
	}
	authURL := base + "/oauth/token"
	if cfg.AuthURL != "" {
		if authURL, err = ValidateBaseURL(cfg.AuthURL); err != nil {
			return nil, fmt.Errorf("emporix: auth %w", err)
		}
	}
	switch {
	case cfg.Tenant == "":
		return nil, errors.New("emporix: a tenant is required")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("emporix: a client id and secret are required")
	case cfg.Hasher == nil:
		return nil, errors.New("emporix: a Hasher is required")
	}
	e := &Emporix{
		base:      base,
		authURL:   authURL,
		tenant:    cfg.Tenant,
		clientID:  cfg.ClientID,
		secret:    cfg.ClientSecret,
		siteCode:  cfg.SiteCode,
		hasher:    cfg.Hasher,
		ids:       cfg.Pseudonyms,
		client:    cfg.Client,
		now:       time.Now,
		tokenLock: make(chan struct{}, 1),
		versions:  newMemState(emporixMaxVersions),
	}
	e.redactor = sinkRedactor([]string{cfg.ClientID, cfg.ClientSecret}, cfg.Secrets, e.tokens)
	cfg.Secrets.addSource(e.tokens)
	return e, nil
}

// Name implements Sink.
func (e *Emporix) Name() string { return "emporix" }

// emporixContext is Emporix's SessionContext_PUT.
type emporixContext struct {
	SessionID string         `json:"sessionId"`
	SiteCode  string         `json:"siteCode,omitempty"`
	Currency  string         `json:"currency,omitempty"`
	CartID    string         `json:"cartId,omitempty"`
	Context   map[string]any `json:"context"`
	Metadata  struct {
		Version int64 `json:"version"`
	} `json:"metadata"`
}

type emporixCart struct {
	Items    []emporixItem `json:"items"`
	Total    model.Decimal `json:"total"`
	Currency string        `json:"currency,omitempty"`
}

type emporixItem struct {
	ProductID string        `json:"productId"`
	SkuID     string        `json:"skuId,omitempty"`
	Name      string        `json:"name,omitempty"`
	Quantity  int           `json:"quantity"`
	UnitPrice model.Decimal `json:"unitPrice"`
	Currency  string        `json:"currency,omitempty"`
}

type emporixCustomer struct {
	ID    string `json:"id"`
	Group string `json:"group,omitempty"`
}

// Deliver implements Sink.
func (e *Emporix) Deliver(ctx context.Context, u *Update) (Feedback, error) {
	s := &u.Session
	if s.ID == "" {
		return Feedback{}, &DeliveryError{Err: errors.New("emporix: update without a session id")}
	}
	// The context is the session's pseudonym's, and so are the versions
	// kept of it.
	id := e.ids.SessionID(s.ID)
	seg, err := PathSegment(id)
	if err != nil {
		return Feedback{}, &DeliveryError{Err: fmt.Errorf("emporix: %w", err)}
	}
	target := e.base + "/session-context/" + url.PathEscape(e.tenant) + "/context/" + seg
	body := e.body(s, id)
	personal := e.redactor.For(personalValues(s, e.hasher))

	// The version Emporix holds: the one tracked, else read. On an error
	// the tracked version stays: if the write did not happen it is still
	// right, and if it did, the next write takes the conflict path.
	version, known := e.knownVersion(ctx, id)
	exists := true
	if !known {
		if version, exists, err = e.currentVersion(ctx, target, personal); err != nil {
			return Feedback{}, err
		}
	}
	conflict, expected, err := e.put(ctx, target, body, version, exists, personal)
	if err != nil {
		return Feedback{}, err
	}
	if conflict != nil {
		// Someone else (the storefront) wrote since: take their version
		// and write once more.
		if version, exists, err = e.currentVersion(ctx, target, personal); err != nil {
			return Feedback{}, err
		}
		if conflict, expected, err = e.put(ctx, target, body, version, exists, personal); err != nil {
			return Feedback{}, err
		}
		if conflict != nil {
			conflict.Retryable = true
			conflict.Err = errors.New("emporix: the session context changed again while it was written")
			return Feedback{}, conflict
		}
	}
	e.versions.Put(ctx, id, strconv.FormatInt(expected, 10))
	return Feedback{ContextVersion: expected}, nil
}

// knownVersion is the context version this sink last wrote for id.
func (e *Emporix) knownVersion(ctx context.Context, id string) (int64, bool) {
	v, ok := e.versions.Get(ctx, id)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// UseState implements Stateful: the versions live in st from now on.
func (e *Emporix) UseState(st State) { e.versions = st }

// put writes body with version, creating the context if it does not exist.
// It returns a (non-retryable) DeliveryError as conflict if Emporix refused
// the version (409 or 412), else the version Emporix now holds: version+1
// after an update, 1 after a creation, or the version a 2xx body states.
func (e *Emporix) put(ctx context.Context, target string, body emporixContext, version int64, exists bool, personal Redaction) (conflict *DeliveryError, expected int64, err error) {
	body.Metadata.Version = version
	resp, err := e.do(ctx, func(ctx context.Context) (*http.Request, error) {
		return NewJSONRequest(ctx, http.MethodPut, target+"?upsert=true", body)
	})
	if err != nil {
		return nil, 0, personal.Err(err)
	}
	if resp.Status == http.StatusConflict || resp.Status == http.StatusPreconditionFailed {
		return &DeliveryError{Status: resp.Status, Snippet: personal.Snippet(resp.Body)}, 0, nil
	}
	if err := ClassifyHTTPResponse(resp, e.now(), personal); err != nil {
		return nil, 0, err
	}
	expected = 1
	if exists {
		expected = version + 1
	}
	var answer struct {
		Metadata struct {
			Version int64 `json:"version"`
		} `json:"metadata"`
	}
	if len(resp.Body) > 0 && json.Unmarshal(resp.Body, &answer) == nil && answer.Metadata.Version > 0 {
		expected = answer.Metadata.Version
	}
	return nil, expected, nil
}

// currentVersion GETs the context's metadata.version. A context that does
// not exist yet (404) is reported with exists false and version 1, the
// version Emporix objects start with, for the upsert that creates it.
func (e *Emporix) currentVersion(ctx context.Context, target string, personal Redaction) (version int64, exists bool, err error) {
	resp, err := e.do(ctx, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err == nil {
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return 0, false, personal.Err(err)
	}
	if resp.Status == http.StatusNotFound {
		return 1, false, nil
	}
	if err := ClassifyHTTPResponse(resp, e.now(), personal); err != nil {
		return 0, false, err
	}
	var got struct {
		Metadata struct {
			Version *int64 `json:"version"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(resp.Body, &got); err != nil || got.Metadata.Version == nil {
		return 0, false, &DeliveryError{Status: resp.Status, Retryable: true, Snippet: personal.Snippet(resp.Body),
			Err: errors.New("emporix: session context without metadata.version")}
	}
	return *got.Metadata.Version, true, nil
}

// do sends the request build makes with a bearer token, fetching a new
// token and sending once more when Emporix answers 401.
func (e *Emporix) do(ctx context.Context, build func(context.Context) (*http.Request, error)) (*HTTPResponse, error) {
	var resp *HTTPResponse
	for attempt := 0; attempt < 2; attempt++ {
		token, err := e.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		req, err := build(ctx)
		if err != nil {
			return nil, &DeliveryError{Err: fmt.Errorf("emporix: %w", err)}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err = DoHTTP(ctx, e.client, req, 0); err != nil {
			return nil, err
		}
		if resp.Status != http.StatusUnauthorized {
			break
		}
		e.dropToken(token)
	}
	return resp, nil
}

// body builds the SessionContext_PUT for s, whose id Emporix knows as
// id, without metadata.version.
func (e *Emporix) body(s *model.Session, id string) emporixContext {
	cart := emporixCart{Items: make([]emporixItem, 0, len(s.Cart.Items)), Total: s.Cart.Total()}
	for _, it := range s.Cart.Items {
		cart.Items = append(cart.Items, emporixItem{
			ProductID: it.ProductID, SkuID: it.SkuID, Name: it.Name,
			Quantity: it.Quantity, UnitPrice: it.UnitPrice, Currency: it.PriceCurrencyCode,
		})
		if cart.Currency == "" {
			cart.Currency = it.PriceCurrencyCode
		}
	}
	c := emporixContext{
		SessionID: id,
		SiteCode:  e.siteCode,
		CartID:    s.CartToken,
		Currency:  cart.Currency,
		Context:   map[string]any{"cart": cart},
	}
	if c.Currency == "" && isCurrencyCode(s.Variation) {
		c.Currency = s.Variation
	}
	// A customer only a browser claimed is not the session's customer.
	if cust := s.Customer.Trusted(); cust.CustomerReference != "" {
		c.Context["customer"] = emporixCustomer{ID: e.hasher.Hash(cust.CustomerReference), Group: cust.CustomerGroup}
	}
	return c
}

// isCurrencyCode reports whether v looks like an ISO 4217 code; a
// variation can also be a price group.
func isCurrencyCode(v string) bool {
	if len(v) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if v[i] < 'A' || v[i] > 'Z' {
			return false
		}
	}
	return true
}

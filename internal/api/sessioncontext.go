package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/internal/session"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// The Emporix-compatible session-context API, under the operator API's
// prefix and behind its bearer key:
//
//	GET {prefix}/session-context/{tenant}/context/{sessionId}
//	PUT {prefix}/session-context/{tenant}/context/{sessionId}[?upsert=true]
//
// A tenant's context exists once a PUT with upsert=true created it; a
// session without one answers 404 under that tenant, whatever other tenants
// keep on it. GET answers the tenant's fields and custom attributes, plus
// the session's own cart as context.cart and, when it owns the context,
// its verified customer as context.customer (ownCustomer).
//
// PUT needs the context's current metadata.version (400 without it, 409
// with the current version when stale); it changes the fields the body has
// and leaves the others, and a body's context replaces all the tenant's
// custom attributes (context.cart and context.customer, which come from the
// session, are ignored, so that a GET body can be sent back). On success
// the version goes up by one. With upsert=true a missing context is created
// with version 1: the body's version must then be absent or 0 (the version
// of a context that does not exist); a version of an existing one is
// checked as usual, and an absent one then means "create only" and answers
// 409. Absent or empty customerId leaves the customer as it is: a
// context's customer cannot be removed or changed, only set once.
//
// A context belongs to a customer (model.Session.ContextOwner): to the
// session's customer when that is verified and has a reference, else to
// the context's customerId, if any. Such a context is read and written
// only with a saas-token header that the configured TokenVerifier
// resolves to that customer (and a PUT setting customerId needs a token of
// that customer); without a verifier they answer 403 to everyone (fail
// closed). A token that does not verify counts as no token. A claimed
// customer grants nothing, and context.customer shows the session's
// customer only when it is the verified owner. A context naming another
// customer than its owner (left from before a login) answers 404 and is
// replaced by an upsert. Check order: 404, then 403, then 409, so that
// neither the version nor the customer leaks to a caller without the
// token.
//
// Errors are Emporix's ErrorMessage, {"sessionId","code","message"}, plus
// "field" for 400s and metadata.version for 409s.
type sessionContexts struct {
	store    cache.Store
	verifier TokenVerifier
	log      *zap.Logger
	now      func() time.Time
	// sessions writes the contexts: history, then one published change.
	sessions *session.Service
}

const (
	// contextBodyLimit bounds a PUT body. Larger ones answer 413.
	contextBodyLimit = 64 << 10
	// maxContextField bounds each of the well-known string fields.
	maxContextField = 256
	// maxTenantLength bounds a tenant name.
	maxTenantLength = 64
)

// tenantPattern is Emporix's tenant name alphabet, a little wider.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// reservedAttributes are the context keys GET fills from the session.
var reservedAttributes = map[string]bool{"cart": true, "customer": true}

// contextError is an answer other than success, with Emporix's error body.
type contextError struct {
	status  int
	message string
	field   string
	// version, for a 409, is the context's current version.
	version *uint64
}

func (e *contextError) Error() string { return e.message }

func ctxErr(status int, format string, args ...any) *contextError {
	return &contextError{status: status, message: fmt.Sprintf(format, args...)}
}

func ctxFieldErr(field, format string, args ...any) *contextError {
	e := ctxErr(http.StatusBadRequest, format, args...)
	e.field = field
	return e
}

var (
	errContextNotFound = ctxErr(http.StatusNotFound, "session context not found")
	errForbidden       = ctxErr(http.StatusForbidden, "the session context belongs to a customer; a saas-token of that customer is required")
)

func conflict(given, current uint64) *contextError {
	e := ctxErr(http.StatusConflict, "metadata.version %d is not the current version %d", given, current)
	e.field = "metadata.version"
	e.version = &current
	return e
}

// serve answers rest, the path after {prefix}/session-context/.
func (c *sessionContexts) serve(w http.ResponseWriter, r *http.Request, rest string) {
	tenant, id, ok := parseContextPath(rest)
	if !ok {
		c.fail(w, "", errContextNotFound)
		return
	}
	if !validTenant(tenant) {
		c.fail(w, id, ctxFieldErr("tenant", "tenant %q is not a valid tenant name", tenant))
		return
	}
	switch r.Method {
	case http.MethodGet:
		c.get(w, r, tenant, id)
	case http.MethodPut:
		c.put(w, r, tenant, id)
	default:
		w.Header().Set("Allow", "GET, PUT")
		c.fail(w, id, ctxErr(http.StatusMethodNotAllowed, "method not allowed; use GET or PUT"))
	}
}

// parseContextPath splits "{tenant}/context/{sessionId}". Session ids may
// contain '/', so the id is everything after "/context/"; our cookie's value
// is accepted for the id.
func parseContextPath(rest string) (tenant, id string, ok bool) {
	tenant, id, ok = strings.Cut(rest, "/context/")
	id = model.OperatorID(id)
	if !ok || !model.ValidID(id) {
		return "", "", false
	}
	return tenant, id, true
}

func validTenant(t string) bool {
	return len(t) <= maxTenantLength && tenantPattern.MatchString(t)
}

// contextBody is the GET answer, Emporix's SessionContext_GET.
type contextBody struct {
	SessionID      string                     `json:"sessionId"`
	CustomerID     string                     `json:"customerId,omitempty"`
	SiteCode       string                     `json:"siteCode,omitempty"`
	Currency       string                     `json:"currency,omitempty"`
	CartID         string                     `json:"cartId,omitempty"`
	TargetLocation string                     `json:"targetLocation,omitempty"`
	Context        map[string]json.RawMessage `json:"context"`
	Metadata       contextMetadata            `json:"metadata"`
}

type contextMetadata struct {
	Version    uint64 `json:"version"`
	CreatedAt  string `json:"createdAt"`
	ModifiedAt string `json:"modifiedAt"`
}

func (c *sessionContexts) get(w http.ResponseWriter, r *http.Request, tenant, id string) {
	s, err := c.store.Get(r.Context(), id)
	if errors.Is(err, cache.ErrNotFound) {
		c.fail(w, id, errContextNotFound)
		return
	}
	if err != nil {
		c.storeFailed(w, id, err)
		return
	}
	tc := s.TenantContext(tenant)
	if tc == nil || s.ForeignContext(tc) {
		// A foreign context is another customer's leftover: detached,
		// as if removed (model.Session.ForeignContext).
		c.fail(w, id, errContextNotFound)
		return
	}
	if !c.mayAccess(s.ContextOwner(tc), c.tokenCustomer(r)) {
		c.fail(w, id, errForbidden)
		return
	}
	body, err := contextView(s, tc)
	if err != nil {
		// No session id: a log reader must not get a key to the session.
		c.log.Error("session context does not encode", zap.String("tenant", tenant), zap.Error(err))
		c.fail(w, id, ctxErr(http.StatusInternalServerError, "the session context could not be read"))
		return
	}
	respond.JSON(w, http.StatusOK, body)
}

// contextView is the GET body of tc on s.
func contextView(s *model.Session, tc *model.TenantContext) (*contextBody, error) {
	attrs := map[string]json.RawMessage{}
	if len(tc.Attributes) > 0 {
		if err := json.Unmarshal(tc.Attributes, &attrs); err != nil {
			return nil, err
		}
	}
	cart, err := json.Marshal(s.Cart)
	if err != nil {
		return nil, err
	}
	customer, err := json.Marshal(ownCustomer(s))
	if err != nil {
		return nil, err
	}
	attrs["cart"], attrs["customer"] = cart, customer
	cartID := tc.CartID
	if cartID == "" {
		cartID = s.CartToken
	}
	return &contextBody{
		SessionID:      s.ID,
		CustomerID:     s.ContextOwner(tc),
		SiteCode:       tc.SiteCode,
		Currency:       tc.Currency,
		CartID:         cartID,
		TargetLocation: tc.TargetLocation,
		Context:        attrs,
		Metadata: contextMetadata{
			Version:    tc.Version,
			CreatedAt:  tc.CreatedAt.UTC().Format(time.RFC3339Nano),
			ModifiedAt: tc.ModifiedAt.UTC().Format(time.RFC3339Nano),
		},
	}, nil
}

// ownCustomer is the session's customer as context.customer shows it: only
// a verified one with a reference, the one who alone may read the context
// (model.Session.ContextOwner). Any other (claimed, or without a
// reference, so not what the token was checked against) is not shown:
// whoever holds a token for the context's customerId is not that person.
func ownCustomer(s *model.Session) model.Customer {
	if s.Customer.Verified && s.Customer.CustomerReference != "" {
		return s.Customer
	}
	return model.Customer{}
}

// tokenCustomer resolves the request's saas-token, "" when there is none,
// no verifier, or the verifier refuses it.
func (c *sessionContexts) tokenCustomer(r *http.Request) string {
	token := r.Header.Get("saas-token")
	if token == "" || c.verifier == nil {
		return ""
	}
	customer, err := c.verifier.CustomerID(r.Context(), token)
	if err != nil {
		c.log.Debug("saas-token refused", zap.Error(err))
		return ""
	}
	return customer
}

// mayAccess reports whether a caller whose token resolved to tokenCustomer
// may use a context belonging to customer.
func (c *sessionContexts) mayAccess(customer, tokenCustomer string) bool {
	if customer == "" {
		return true
	}
	return tokenCustomer != "" && subtle.ConstantTimeCompare([]byte(customer), []byte(tokenCustomer)) == 1
}

// fail answers e with Emporix's ErrorMessage body.
func (c *sessionContexts) fail(w http.ResponseWriter, id string, e *contextError) {
	body := map[string]any{"code": e.status, "message": e.message}
	if id != "" {
		body["sessionId"] = id
	}
	if e.field != "" {
		body["field"] = e.field
	}
	if e.version != nil {
		body["metadata"] = map[string]uint64{"version": *e.version}
	}
	respond.JSON(w, e.status, body)
}

func (c *sessionContexts) storeFailed(w http.ResponseWriter, id string, err error) {
	if errors.Is(err, cache.ErrUnavailable) {
		// Counted and logged at a rate by the store's owner.
		c.log.Debug("session store unavailable", zap.Error(err))
		respond.RetryLater(w)
		c.fail(w, id, ctxErr(http.StatusServiceUnavailable, "%s", unavailableMsg(err)))
		return
	}
	// No session id: the caller has it in the answer, a log reader must not.
	c.log.Error("session store failed", zap.String("route", "session-context"), zap.Error(err))
	c.fail(w, id, ctxErr(http.StatusInternalServerError, "the session store failed"))
}

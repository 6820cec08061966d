package api

// PUT of the session-context API: the body, its checks and the write.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/strictjson"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// contextPut is the PUT body, Emporix's SessionContext_PUT. Unknown fields
// (a GET body's metadata.createdAt, say) are ignored.
type contextPut struct {
	SessionID      *string                    `json:"sessionId"`
	CustomerID     *string                    `json:"customerId"`
	SiteCode       *string                    `json:"siteCode"`
	Currency       *string                    `json:"currency"`
	CartID         *string                    `json:"cartId"`
	TargetLocation *string                    `json:"targetLocation"`
	Context        map[string]json.RawMessage `json:"context"`
	Metadata       *struct {
		Version json.RawMessage `json:"version"`
	} `json:"metadata"`

	// Set by check: the version given, the attributes to store.
	version    uint64
	hasVersion bool
	hasContext bool
	attributes json.RawMessage
}

func (c *sessionContexts) put(w http.ResponseWriter, r *http.Request, tenant, id string) {
	upsert := r.URL.Query().Get("upsert") == "true"
	body, cerr := readContextPut(w, r, id)
	if cerr != nil {
		c.fail(w, id, cerr)
		return
	}
	if !body.hasVersion && !upsert {
		c.fail(w, id, ctxFieldErr("metadata.version", "metadata.version is required: send the context's current version"))
		return
	}
	tokenCustomer := c.tokenCustomer(r)
	_, _, err := c.sessions.Write(r.Context(), id, model.SourceAPI, "", func(s *model.Session) (model.Change, error) {
		return model.ChangeContext, c.apply(s, tenant, body, upsert, tokenCustomer)
	})
	var ce *contextError
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &ce):
		c.fail(w, id, ce)
	case errors.Is(err, cache.ErrTooLarge):
		// The contexts fit (MaxTenantContexts × MaxContextAttributes) but
		// with a cart at its limits the session may not.
		c.fail(w, id, ctxErr(http.StatusRequestEntityTooLarge, "the session with this context would be too large; nothing was stored"))
	default:
		c.storeFailed(w, id, err)
	}
}

// apply is the PUT's read-modify-write, run inside the store's atomic
// Update: the version check and the write cannot interleave with another.
func (c *sessionContexts) apply(s *model.Session, tenant string, body *contextPut, upsert bool, tokenCustomer string) error {
	tc := s.TenantContext(tenant)
	if tc != nil && s.ForeignContext(tc) {
		// Another customer's leftover: detached, as GET says (404).
		s.RemoveTenantContext(tenant)
		tc = nil
	}
	if tc == nil {
		if !upsert {
			return errContextNotFound
		}
		// Authorize before anything about the version is told.
		if !c.mayAccess(s.ContextOwner(&model.TenantContext{}), tokenCustomer) || !c.mayAccess(deref(body.CustomerID), tokenCustomer) {
			return errForbidden
		}
		if body.version != 0 {
			return conflict(body.version, 0)
		}
		now := c.now().UTC()
		var err error
		tc, err = s.AddTenantContext(model.TenantContext{Tenant: tenant, CreatedAt: now})
		if err != nil {
			return ctxErr(http.StatusBadRequest, "the session already has contexts for %d tenants, the most it may have", model.MaxTenantContexts)
		}
	} else {
		if !c.mayAccess(s.ContextOwner(tc), tokenCustomer) || !c.mayAccess(deref(body.CustomerID), tokenCustomer) {
			return errForbidden
		}
		if !body.hasVersion {
			// Only an upsert gets here: without a version it only creates.
			e := conflict(0, tc.Version)
			e.message = fmt.Sprintf("the session context exists; send its current metadata.version %d to update it", tc.Version)
			return e
		}
		if body.version != tc.Version {
			return conflict(body.version, tc.Version)
		}
	}
	if body.CustomerID != nil && *body.CustomerID != "" {
		// mayAccess above made sure it is the token's customer, and that
		// the context (and a verified session customer) had no other one.
		tc.CustomerID = *body.CustomerID
	}
	setIfGiven(&tc.SiteCode, body.SiteCode)
	setIfGiven(&tc.Currency, body.Currency)
	setIfGiven(&tc.CartID, body.CartID)
	setIfGiven(&tc.TargetLocation, body.TargetLocation)
	if body.hasContext {
		tc.Attributes = body.attributes
	}
	tc.Version++
	tc.ModifiedAt = c.now().UTC()
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func setIfGiven(dst, v *string) {
	if v != nil {
		*dst = *v
	}
}

// readContextPut reads and checks a PUT body.
func readContextPut(w http.ResponseWriter, r *http.Request, id string) (*contextPut, *contextError) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, contextBodyLimit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, ctxErr(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", contextBodyLimit)
	}
	if err != nil {
		return nil, ctxErr(http.StatusBadRequest, "the body could not be read")
	}
	// What the decoder would silently change (a duplicate key, a byte
	// that is not UTF-8) is refused, naming the field.
	if e := strictjson.Check(bytes.TrimSpace(raw)); e != nil {
		return nil, ctxFieldErr(e.Field, "%s %s", e.Field, e.Msg)
	}
	var body contextPut
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil {
		return nil, ctxErr(http.StatusBadRequest, "the body is not a session context: %v", jsonProblem(err))
	}
	if dec.More() {
		return nil, ctxErr(http.StatusBadRequest, "the body has data after the JSON object")
	}
	if err := body.check(id); err != nil {
		return nil, err
	}
	return &body, nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	}
	return "invalid JSON"
}

func (b *contextPut) check(id string) *contextError {
	if b.SessionID != nil && *b.SessionID != id {
		return ctxFieldErr("sessionId", "sessionId does not match the session id of the path")
	}
	// The model's value rules, as for every other way into a session.
	for _, f := range []struct {
		name string
		v    *string
		rule func(string) (string, error)
	}{
		{"customerId", b.CustomerID, model.ID}, {"siteCode", b.SiteCode, model.ID},
		{"currency", b.Currency, model.Currency}, {"cartId", b.CartID, model.ID},
		{"targetLocation", b.TargetLocation, model.Text},
	} {
		if f.v == nil {
			continue
		}
		v, err := f.rule(*f.v)
		if err != nil {
			return ctxFieldErr(f.name, "%s %v", f.name, err)
		}
		if len(v) > maxContextField {
			return ctxFieldErr(f.name, "%s is longer than %d bytes", f.name, maxContextField)
		}
		*f.v = v
	}
	if b.Metadata == nil {
		return ctxFieldErr("metadata", "metadata with metadata.version is required")
	}
	if v := b.Metadata.Version; len(v) > 0 && string(v) != "null" {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return ctxFieldErr("metadata.version", "metadata.version must be a non-negative integer")
		}
		b.version, b.hasVersion = n, true
	}
	if b.Context == nil {
		return nil
	}
	b.hasContext = true
	attrs := make(map[string]json.RawMessage, len(b.Context))
	for k, v := range b.Context {
		if reservedAttributes[k] {
			continue
		}
		if k == "" {
			return ctxFieldErr("context", "context keys must not be empty")
		}
		// The spec's Context: an object whose values are objects.
		if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '{' {
			return ctxFieldErr("context."+k, "context.%s must be an object", k)
		}
		attrs[k] = v
	}
	if len(attrs) == 0 {
		return nil
	}
	enc, err := json.Marshal(attrs) // compact, keys sorted
	if err != nil {
		return ctxFieldErr("context", "context does not encode")
	}
	if len(enc) > model.MaxContextAttributes {
		e := ctxErr(http.StatusRequestEntityTooLarge, "context is %d bytes; a tenant may keep at most %d", len(enc), model.MaxContextAttributes)
		e.field = "context"
		return e
	}
	b.attributes = enc
	return nil
}

package delivery

// Shared test infrastructure for sinks: the upstreams' OpenAPI specs,
// loaded once per test binary with kin-openapi, as a request validator and
// as an httptest server that refuses (and fails the test on) any request the
// spec does not allow. Also the tests of httpsink.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
)

// Spec files, found by spectest.
const (
	talonOneSpec = spectest.TalonOne
	emporixSpec  = spectest.Emporix
)

// checkSpecSchema fails the test unless the JSON document doc matches the
// named component schema of spec: fake upstreams use it to answer as the
// real ones would. Call it from the test's goroutine; handlers use
// specSchemaError.
func checkSpecSchema(t testing.TB, spec, schema string, doc []byte) {
	t.Helper()
	if err := specSchemaError(t, spec, schema, doc); err != nil {
		t.Fatal(err)
	}
}

// specSchemaError is checkSpecSchema's check, returned.
func specSchemaError(t testing.TB, spec, schema string, doc []byte) error {
	ref := spectest.Load(t, spec).Doc.Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("%s has no schema %s", spec, schema)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("%s: %w", schema, err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("the fake answer is not a %s: %w", schema, err)
	}
	return nil
}

// specValidator returns a function that validates a request against the
// spec named (a path, or a file name looked up as spectest.Find does): route
// (path and method), path, query and header parameters, security and the
// body against its schema, read-only properties included. The request's
// body is restored afterwards.
func specValidator(t testing.TB, spec string) func(*http.Request) error {
	t.Helper()
	router := spectest.Load(t, spec).Router
	return func(r *http.Request) error {
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				return err
			}
			r.Body.Close()
		}
		restore := func() { r.Body = io.NopCloser(bytes.NewReader(body)) }
		restore()
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		defer restore()

		route, params, err := router.FindRoute(r)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.Method, r.URL.EscapedPath(), err)
		}
		return openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				MultiError:         true,
				AuthenticationFunc: specAuth,
			},
		})
	}
}

// specAuth checks that a request carries the credentials a security scheme
// asks for, in the right format; whether they are valid is the fake
// upstream's business.
func specAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	scheme := in.SecurityScheme
	switch scheme.Type {
	case "apiKey":
		var v string
		switch scheme.In {
		case "header":
			v = r.Header.Get(scheme.Name)
		case "query":
			v = r.URL.Query().Get(scheme.Name)
		case "cookie":
			if c, err := r.Cookie(scheme.Name); err == nil {
				v = c.Value
			}
		}
		if v == "" {
			return in.NewError(fmt.Errorf("no %s %s", scheme.In, scheme.Name))
		}
		// Talon.One's schemes share the Authorization header and differ
		// in the prefix.
		prefix := map[string]string{
			"api_key_v1":     "ApiKey-v1 ",
			"management_key": "ManagementKey-v1 ",
			"manager_auth":   "Bearer ",
		}[in.SecuritySchemeName]
		if !strings.HasPrefix(v, prefix) || strings.TrimSpace(v[len(prefix):]) == "" {
			return in.NewError(fmt.Errorf("%s is not %q followed by a key", scheme.Name, prefix))
		}
		return nil
	case "oauth2", "openIdConnect", "http":
		v := r.Header.Get("Authorization")
		if tok, ok := strings.CutPrefix(v, "Bearer "); !ok || strings.TrimSpace(tok) == "" || strings.ContainsAny(tok, " \t") {
			return in.NewError(errors.New("no Authorization: Bearer <token>"))
		}
		return nil
	}
	return in.NewError(fmt.Errorf("security scheme type %q not supported by the test", scheme.Type))
}

// seenRequest is a request as a spec server received it.
type seenRequest struct {
	Method string
	// Path is the escaped path, as sent.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// specServer stands in for an upstream: every request is validated against
// the spec first; an invalid one fails the test and is answered 400 without
// reaching the handler.
type specServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

// newSpecServer starts a specServer that hands valid requests (with their
// body already read) to h. Paths outside the spec, such as a token
// endpoint, can be served by exempt: requests whose path starts with one of
// them skip validation.
func newSpecServer(t testing.TB, spec string, h func(w http.ResponseWriter, r *http.Request, body []byte), exempt ...string) *specServer {
	t.Helper()
	validate := specValidator(t, spec)
	s := &specServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		isExempt := false
		for _, p := range exempt {
			isExempt = isExempt || strings.HasPrefix(r.URL.Path, p)
		}
		if !isExempt {
			if err := validate(r); err != nil {
				t.Errorf("upstream saw a request its spec does not allow: %v\nbody: %s", err, body)
				http.Error(w, "invalid request: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns the requests seen so far.
func (s *specServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// TestSpecValidatorRejectsBrokenRequests proves that the validator has
// teeth: requests the specs do not allow are refused, for each reason the
// sink tests rely on.
func TestSpecValidatorRejectsBrokenRequests(t *testing.T) {
	talon := specValidator(t, talonOneSpec)
	emporix := specValidator(t, emporixSpec)
	const good = `{"customerSession":{"profileId":"","state":"open","cartItems":[{"sku":"S1","quantity":1,"price":9.99}]}}`
	req := func(method, target, auth, body string) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	const talonPath = "/v2/customer_sessions/abc"
	if err := talon(req(http.MethodPut, talonPath, "ApiKey-v1 k", good)); err != nil {
		t.Fatalf("a valid Talon.One request was refused: %v", err)
	}
	const emporixPath = "/session-context/t/context/abc?upsert=true"
	if err := emporix(req(http.MethodPut, emporixPath, "Bearer tok", `{"sessionId":"abc","metadata":{"version":1}}`)); err != nil {
		t.Fatalf("a valid Emporix request was refused: %v", err)
	}
	bad := []struct {
		name     string
		validate func(*http.Request) error
		r        *http.Request
	}{
		{"talon: quantity 0", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `"quantity":1`, `"quantity":0`, 1))},
		{"talon: no sku", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `"sku":"S1",`, ``, 1))},
		{"talon: price as string", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `9.99`, `"9.99"`, 1))},
		{"talon: unknown state", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `"open"`, `"paid"`, 1))},
		{"talon: read-only position", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `"quantity":1`, `"quantity":1,"position":1`, 1))},
		{"talon: no customerSession", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", `{"responseContent":["customerSession"]}`)},
		{"talon: unknown responseContent", talon, req(http.MethodPut, talonPath, "ApiKey-v1 k", strings.Replace(good, `}}`, `},"responseContent":["everything"]}`, 1))},
		{"talon: no API key", talon, req(http.MethodPut, talonPath, "", good)},
		{"talon: bearer instead of ApiKey-v1", talon, req(http.MethodPut, talonPath, "Bearer k", good)},
		{"talon: dry not a boolean", talon, req(http.MethodPut, talonPath+"?dry=yes", "ApiKey-v1 k", good)},
		{"talon: POST", talon, req(http.MethodPost, talonPath, "ApiKey-v1 k", good)},
		{"talon: unknown path", talon, req(http.MethodPut, "/v2/customer_session/abc", "ApiKey-v1 k", good)},
		{"emporix: no metadata", emporix, req(http.MethodPut, emporixPath, "Bearer tok", `{"sessionId":"abc"}`)},
		{"emporix: version not an integer", emporix, req(http.MethodPut, emporixPath, "Bearer tok", `{"metadata":{"version":"1"}}`)},
		{"emporix: context value not an object", emporix, req(http.MethodPut, emporixPath, "Bearer tok", `{"context":{"cart":[]},"metadata":{"version":1}}`)},
		{"emporix: no token", emporix, req(http.MethodPut, emporixPath, "", `{"metadata":{"version":1}}`)},
		{"emporix: tenant missing", emporix, req(http.MethodPut, "/session-context/context/abc", "Bearer tok", `{"metadata":{"version":1}}`)},
	}
	for _, c := range bad {
		if err := c.validate(c.r); err == nil {
			t.Errorf("%s: the validator let it through", c.name)
		} else {
			t.Logf("%s: refused: %.160v", c.name, err)
		}
	}
}

func TestHTTPSinkClassify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	resp := func(status int, retryAfter, body string) *HTTPResponse {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &HTTPResponse{Status: status, Header: h, Body: []byte(body)}
	}
	cases := []struct {
		r         *HTTPResponse
		also      []int
		retryable bool
		after     time.Duration
	}{
		{resp(503, "", "down"), nil, true, 0},
		{resp(500, "7", ""), nil, true, 7 * time.Second},
		{resp(429, "120", ""), nil, true, 2 * time.Minute},
		{resp(429, now.Add(90*time.Second).Format(http.TimeFormat), ""), nil, true, 90 * time.Second},
		{resp(400, "5", "bad"), nil, false, 0}, // Retry-After means nothing on a refusal
		{resp(404, "", ""), nil, false, 0},
		{resp(409, "", ""), nil, false, 0},
		{resp(409, "", ""), []int{409}, true, 0},
		{resp(304, "", ""), nil, false, 0},
	}
	for _, c := range cases {
		err := ClassifyHTTPResponse(c.r, now, Redaction{}, c.also...)
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: got %v, want a *DeliveryError", c.r.Status, err)
		}
		if de.Status != c.r.Status || de.Retryable != c.retryable || de.RetryAfter != c.after || de.Snippet != string(c.r.Body) {
			t.Errorf("%d %v: got %+v, want retryable %v after %v", c.r.Status, c.also, de, c.retryable, c.after)
		}
		if Retryable(err) != c.retryable {
			t.Errorf("%d: Retryable(err) = %v", c.r.Status, Retryable(err))
		}
	}
	for _, s := range []int{200, 201, 204, 299} {
		if err := ClassifyHTTPResponse(resp(s, "", ""), now, Redaction{}); err != nil {
			t.Errorf("%d: %v", s, err)
		}
	}
}

func TestHTTPSinkRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                                 0,
		"0":                                0,
		" 30 ":                             30 * time.Second,
		"-5":                               0,
		"1.5":                              0,
		"soon":                             0,
		"99999999999999999999999":          MaxRetryAfter,
		"999999":                           MaxRetryAfter,
		"Sun, 01 Mar 2026 12:00:10 GMT":    10 * time.Second,
		"Sunday, 01-Mar-26 12:01:00 GMT":   time.Minute, // RFC 850
		"Sun Mar  1 12:00:05 2026":         5 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT":    0, // past
		"Sun, 01 Mar 2027 12:00:00 GMT":    MaxRetryAfter,
		"2026-03-01T12:00:10Z":             0, // not an HTTP date
		"Sun, 01 Mar 2026 12:00:10 +0000x": 0,
	}
	for v, want := range cases {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestHTTPSinkSnippet(t *testing.T) {
	long := strings.Repeat("é", MaxSnippet) // 2 bytes each: the cut falls mid-rune or on a boundary
	for _, body := range []string{long, "x" + long} {
		s := snippet([]byte(body))
		if len(s) > MaxSnippet || strings.ContainsRune(s, '\uFFFD') {
			t.Errorf("Snippet of %d bytes: %d bytes, invalid rune: %v", len(body), len(s), strings.ContainsRune(s, '\uFFFD'))
		}
	}
	if got := snippet([]byte("  {\"error\":\n\"bad\"}\r\n")); got != `{"error": "bad"}` {
		t.Errorf("Snippet = %q", got)
	}
	if got := snippet([]byte("a\xffb")); got != "a\uFFFDb" {
		t.Errorf("Snippet of invalid UTF-8 = %q", got)
	}
}

func TestHTTPSinkDoHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(bytes.Repeat([]byte("a"), 2000))
		case "/bigerror":
			w.WriteHeader(http.StatusBadGateway)
			w.Write(bytes.Repeat([]byte("b"), 2000))
		case "/echo":
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
				http.Error(w, "headers", http.StatusBadRequest)
				return
			}
			io.Copy(w, r.Body)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	req, err := NewJSONRequest(ctx, http.MethodPost, srv.URL+"/echo", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := DoHTTP(ctx, nil, req, 0)
	if err != nil || !r.OK() || string(r.Body) != `{"a":1}` {
		t.Fatalf("echo: %+v, %v", r, err)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/big", nil)
	_, err = DoHTTP(ctx, srv.Client(), req, 1000)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || !errors.Is(err, ErrResponseTooLarge) || de.Status != 200 {
		t.Errorf("too large a 2xx answer: %v", err)
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/bigerror", nil)
	r, err = DoHTTP(ctx, srv.Client(), req, 1000)
	if err != nil || len(r.Body) != 1000 {
		t.Fatalf("a long error answer is cut, not refused: %v", err)
	}
	if err := ClassifyHTTPResponse(r, time.Time{}, Redaction{}); !Retryable(err) || len(err.(*DeliveryError).Snippet) != MaxSnippet {
		t.Errorf("502: %v", err)
	}

	// Network errors: retryable, status 0.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	req, _ = http.NewRequest(http.MethodGet, deadURL, nil)
	_, err = DoHTTP(ctx, nil, req, 0)
	if !errors.As(err, &de) || !de.Retryable || de.Status != 0 {
		t.Errorf("connection refused: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/echo", nil)
	if _, err = DoHTTP(cctx, nil, req, 0); !errors.As(err, &de) || !de.Retryable || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestHTTPSinkValidateBaseURL(t *testing.T) {
	good := map[string]string{
		"https://x.talon.one":        "https://x.talon.one",
		"https://x.talon.one/":       "https://x.talon.one",
		"http://127.0.0.1:8080/api/": "http://127.0.0.1:8080/api",
	}
	for in, want := range good {
		if got, err := ValidateBaseURL(in); err != nil || got != want {
			t.Errorf("ValidateBaseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x.talon.one", "ftp://x", "https://", "https://x?y=1", "https://x?", "https://x#f", "https://u:p@x", "://"} {
		if _, err := ValidateBaseURL(in); err == nil {
			t.Errorf("ValidateBaseURL(%q) accepted", in)
		}
	}
}

package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Shared HTTP plumbing for sinks: build a JSON request, send it under a
// context, read a bounded answer, and classify the answer into a
// *DeliveryError. Nothing here knows about a particular upstream.

const (
	// MaxSnippet is the most bytes of an upstream's answer that a
	// DeliveryError carries in Snippet.
	MaxSnippet = 512
	// MaxRetryAfter caps the wait an upstream can ask for with Retry-After.
	MaxRetryAfter = 24 * time.Hour
	// DefaultMaxResponseBody is how much of an answer DoHTTP reads when
	// the caller gives no limit.
	DefaultMaxResponseBody = 1 << 20
)

// ErrResponseTooLarge is the Err of the DeliveryError DoHTTP returns when a
// successful answer is longer than the caller's limit.
var ErrResponseTooLarge = errors.New("upstream answer exceeds the size limit")

// HTTPResponse is an upstream's answer, fully read (up to a limit) and
// closed, so that callers cannot leak connections.
type HTTPResponse struct {
	Status int
	Header http.Header
	// Body is the answer's body, at most the limit given to DoHTTP. For a
	// non-2xx answer it may be cut at the limit.
	Body []byte
}

// NewJSONRequest builds a request whose body is body marshalled as JSON,
// with Content-Type and Accept set to application/json. The body can be
// re-read (GetBody), so redirects and request validators see it too.
func NewJSONRequest(ctx context.Context, method, rawURL string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding request body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// defaultClient is the sinks' client when none is configured.
var defaultClient = NewClient(0)

// NewClient returns a client for one sink that keeps up to conns idle
// connections to its upstream (http.DefaultTransport keeps 2 per host, so
// a sink delivering 8 at once dropped and re-opened connections, TLS
// handshakes included). It follows no redirects: a redirect would turn a
// POST into a GET, or send a session to a host nobody configured; the 3xx
// is reported instead.
func NewClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(conns, 2)
	t.MaxIdleConns = max(t.MaxIdleConns, t.MaxIdleConnsPerHost)
	return &http.Client{
		Transport: t,
		Timeout:   30 * time.Second, // the engine's per-attempt context normally ends sooner
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// DoHTTP sends req under ctx with client (defaultClient when nil) and
// reads at most maxBody bytes of the answer (DefaultMaxResponseBody when
// maxBody <= 0), then closes it.
//
// A transport failure (connection refused, timeout, cancelled ctx) is
// returned as a retryable *DeliveryError with Status 0. Any HTTP answer is
// returned as an *HTTPResponse whatever its status: pass it to
// ClassifyHTTPResponse. The one exception is a 2xx answer longer than
// maxBody, which is a non-retryable *DeliveryError wrapping
// ErrResponseTooLarge (a cut document cannot be used, and asking again
// would get the same).
func DoHTTP(ctx context.Context, client *http.Client, req *http.Request, maxBody int64) (*HTTPResponse, error) {
	if client == nil {
		client = defaultClient
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBody
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		// Without the URL: it may carry a token in its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s: %w", req.Method, ue.Err)
		}
		return nil, &DeliveryError{Retryable: true, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		// The status arrived but the body broke off: a network failure.
		return nil, &DeliveryError{Retryable: true, Err: fmt.Errorf("reading the answer to %s: %w", req.Method, err)}
	}
	tooLarge := int64(len(body)) > maxBody
	if tooLarge {
		body = body[:maxBody]
	}
	r := &HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if tooLarge && r.OK() {
		// No snippet: a successful answer is data, not an error message,
		// and here there is no session to redact its personal values by.
		return nil, &DeliveryError{Status: r.Status, Err: ErrResponseTooLarge}
	}
	return r, nil
}

// OK reports whether the answer's status is 2xx.
func (r *HTTPResponse) OK() bool { return r.Status >= 200 && r.Status <= 299 }

// ClassifyHTTPResponse returns nil for a 2xx answer and a *DeliveryError
// otherwise:
//
//   - 5xx, 429 and the statuses in alsoRetryable (e.g. Talon.One's 409 for
//     parallel requests) are retryable, with RetryAfter from the answer's
//     Retry-After header (delta-seconds or an HTTP date, relative to now; a
//     zero now means time.Now()).
//   - Any other status (4xx, an unfollowed 3xx, 1xx) is not retryable.
//
// Snippet is the start of the body with red's secrets and personal values
// blanked (see Redactor). The result is typed error so that a nil result
// can be returned as is.
func ClassifyHTTPResponse(r *HTTPResponse, now time.Time, red Redaction, alsoRetryable ...int) error {
	if r.OK() {
		return nil
	}
	de := &DeliveryError{Status: r.Status, Snippet: red.Snippet(r.Body)}
	switch {
	case r.Status >= 500, r.Status == http.StatusTooManyRequests:
		de.Retryable = true
	case r.Status >= 300 && r.Status <= 399:
		de.Err = errors.New("redirects are not followed; configure the final URL")
	default:
		for _, s := range alsoRetryable {
			if s == r.Status {
				de.Retryable = true
			}
		}
	}
	if de.Retryable {
		if now.IsZero() {
			now = time.Now()
		}
		de.RetryAfter = ParseRetryAfter(r.Header.Get("Retry-After"), now)
	}
	return de
}

// ParseRetryAfter reads a Retry-After header value: delta-seconds ("120")
// or an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"), the latter relative to
// now. It returns 0 for an empty, malformed, negative or past value, and at
// most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return MaxRetryAfter
			}
			return 0
		}
		if n >= uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// validateEndpointURL checks a full endpoint URL (a webhook, Nosto's
// GraphQL endpoint): absolute http(s) with a host; a query is allowed.
func validateEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q must be an absolute http(s) URL", raw)
	}
	return nil
}

// ValidateBaseURL checks an upstream's configured base URL: absolute http or
// https with a host, no query, fragment or user info (credentials belong in
// the sink's own settings, where they are kept out of logs). It returns the
// URL as a string without a trailing slash, ready for appending paths.
func ValidateBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q: no host", raw)
	}
	if u.User != nil {
		return "", errors.New("URL must not contain user info")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("URL %q must not have a query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// PathSegment is id escaped as one segment of a URL path. An id of dots
// only ("." or "..") is refused, not sent: escaping leaves dots as they
// are, and the upstream would resolve them to another resource.
// model.ValidID refuses such ids; this guards what reaches a sink anyway.
func PathSegment(id string) (string, error) {
	if strings.Trim(id, ".") == "" {
		return "", fmt.Errorf("session id %q cannot be a URL path segment", id)
	}
	return url.PathEscape(id), nil
}

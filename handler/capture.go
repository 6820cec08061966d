package handler

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
	"github.com/sessiontap/caddy-sessiontap/internal/tagging"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// DefaultCaptureLimit is how much of a response body is scanned.
const DefaultCaptureLimit = 2 << 20

// CaptureConfig says what sessiontap reads from the traffic it proxies.
type CaptureConfig struct {
	// HTML scans text/html 2xx responses for Nosto tagging.
	HTML bool
	// Limit caps the bytes of a body kept for scanning; past it scanning
	// stops, the response does not.
	Limit int
	// Cached lets pages that may come from a shared cache overwrite the
	// session's cart and customer.
	Cached bool
	// JSON are the cart API exchanges to read, first match wins.
	JSON []jsonmap.Route
	// Budget caps the bytes all captures in flight hold together; past
	// it a response goes on uncaptured. Default DefaultCaptureBudget.
	Budget int64
}

// captureKind is what a response is scanned as.
type captureKind uint8

const (
	captureNone captureKind = iota
	captureHTML
	captureJSON
)

// captureWriter passes every byte to the visitor untouched and keeps a
// bounded copy of the ones worth scanning. It never buffers the response:
// what the upstream writes goes out at once.
type captureWriter struct {
	http.ResponseWriter
	cfg *CaptureConfig

	route     *jsonmap.Route // the JSON route of a response capture, or nil
	decided   bool
	kind      captureKind
	encoding  string // the body's Content-Encoding, "" for identity
	mayCached bool   // the response may have come from a shared cache
	truncated bool
	// budget is the handler's; held is what this capture took of it, and
	// over the kind of capture dropped for want of it.
	budget *budget
	held   int
	over   captureKind
	// The copy: identity-encoded HTML goes straight into a scanner, which
	// bounds it; compressed HTML and JSON are kept raw in buf.
	scan    *tagging.Scanner
	buf     *bytes.Buffer
	visit   *model.Visit  // the page view to record with the capture
	consent consentCookie // the request's consent banner cookie
	path    string        // the request's path, for the session's history
}

var (
	bufPool     = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	scannerPool = sync.Pool{New: func() any { return tagging.NewScanner(0) }}
)

func getScanner(limit int) *tagging.Scanner {
	s := scannerPool.Get().(*tagging.Scanner)
	s.Reset(limit)
	return s
}

// newCaptureWriter wraps w. The wrapper itself is not pooled: a handler
// below that (wrongly) kept the writer past its return must not reach
// another request's response.
func (h *Handler) newCaptureWriter(w http.ResponseWriter, r *http.Request, route *jsonmap.Route) *captureWriter {
	return &captureWriter{ResponseWriter: w, cfg: &h.cfg.Capture, route: route, path: r.URL.Path, budget: h.budget}
}

// WriteHeader decides, on the final status, whether to keep a copy.
func (c *captureWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		// Informational answers (103 Early Hints) come before the real one.
		c.ResponseWriter.WriteHeader(code)
		return
	}
	if !c.decided {
		c.decide(code)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if !c.decided {
		c.decide(http.StatusOK)
	}
	n, err := c.ResponseWriter.Write(p)
	if c.kind != captureNone && n > 0 {
		c.keep(p[:n])
	}
	return n, err
}

// Unwrap lets http.NewResponseController reach Flush, Hijack and the
// deadlines of the writer underneath (SSE, WebSockets, long polls).
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *captureWriter) decide(code int) {
	c.decided = true
	// 204 and 304 have no body; 206 is a fragment of one.
	if code < 200 || code > 299 || code == http.StatusNoContent || code == http.StatusPartialContent {
		return
	}
	hdr := c.Header()
	// Canonical keys indexed directly: Header.Get canonicalizes its key on
	// every call, and this runs on every proxied response.
	enc, ok := supportedEncoding(headerValue(hdr, "Content-Encoding"))
	switch {
	case !ok:
		return
	case c.route != nil:
		// Cart APIs answer JSON under many content types (Shopify's .js
		// endpoints); the route says it is JSON, Extract checks.
		c.kind = captureJSON
	case c.cfg.HTML && isHTML(headerValue(hdr, "Content-Type")):
		c.kind = captureHTML
	default:
		return
	}
	c.encoding = enc
	c.mayCached = fromSharedCache(hdr)
	if c.kind == captureHTML && enc == "" {
		c.scan = getScanner(c.cfg.Limit)
		return
	}
	c.buf = bufPool.Get().(*bytes.Buffer)
	c.buf.Reset()
}

// keep copies p for scanning, up to the limit and within the budget.
func (c *captureWriter) keep(p []byte) {
	if n := min(len(p), max(c.cfg.Limit-c.held, 0)); n > 0 {
		if !c.budget.take(n) {
			c.over = c.kind
			c.release()
			return
		}
		c.held += n
	}
	if c.scan != nil {
		c.scan.Write(p) // bounded by the scanner; never fails
		return
	}
	room := c.cfg.Limit - c.buf.Len()
	if len(p) > room {
		p = p[:max(room, 0)]
		c.truncated = true
	}
	c.buf.Write(p)
}

// release returns the scan buffer to the pool and stops keeping bytes.
func (c *captureWriter) release() {
	if c.buf != nil && c.buf.Cap() <= 4*c.cfg.Limit {
		bufPool.Put(c.buf)
	}
	if c.scan != nil {
		scannerPool.Put(c.scan)
	}
	c.buf, c.scan, c.kind = nil, nil, captureNone
	c.budget.give(c.held)
	c.held = 0
}

// isHTML matches the media type without mime.ParseMediaType, which
// allocates for the parameters on every proxied response.
func isHTML(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "text/html") || strings.EqualFold(mt, "application/xhtml+xml")
}

// supportedEncoding normalizes a Content-Encoding we can decode.
func supportedEncoding(ce string) (string, bool) {
	switch ce = strings.ToLower(strings.TrimSpace(ce)); ce {
	case "", "identity":
		return "", true
	case "gzip", "x-gzip":
		return "gzip", true
	case "br", "zstd":
		return ce, true
	}
	return "", false
}

// fromSharedCache reports whether a response may have been served from a
// shared cache, and so may carry another visitor's cart or customer (the
// way Nosto's Magento plugin once mailed customers other people's carts).
func fromSharedCache(h http.Header) bool {
	if age, err := strconv.Atoi(strings.TrimSpace(headerValue(h, "Age"))); err == nil && age > 0 {
		return true
	}
	for _, name := range [...]string{"X-Cache", "Cf-Cache-Status", "X-Cache-Status", "X-Varnish-Cache"} {
		if containsFold(headerValue(h, name), "hit") {
			return true
		}
	}
	return sharedCacheable(h)
}

// sharedCacheable reports an answer that a shared cache may store and
// hand to other visitors: Cache-Control public, s-maxage or a max-age
// above 0, and neither private nor no-store.
func sharedCacheable(h http.Header) bool {
	var public bool
	for _, cc := range h["Cache-Control"] {
		if containsFold(cc, "private") || containsFold(cc, "no-store") {
			return false
		}
		public = public || containsFold(cc, "public") || containsFold(cc, "s-maxage") || freshFor(cc)
	}
	return public
}

// freshFor reports a Cache-Control value with a max-age above 0.
func freshFor(cc string) bool {
	for part := range strings.SplitSeq(cc, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "max-age") {
			n, err := strconv.Atoi(strings.Trim(v, `"`))
			return err == nil && n > 0
		}
	}
	return false
}

// headerValue is h.Get(key) for a key already in canonical form.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// containsFold reports whether s contains the lower-case ASCII word,
// in any case, without the copy strings.ToLower makes.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

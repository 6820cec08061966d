package handler

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

const cartTagging = `<div class="nosto_page_type">cart</div><div class="nosto_cart"><div class="line_item">` +
	`<span class="product_id">p1</span><span class="quantity">2</span><span class="unit_price">9.99</span>` +
	`<span class="name">Mug</span></div></div>`

// page is an upstream that answers with a header set and body.
type page struct {
	header http.Header
	status int
	body   string
}

func (p page) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	for k, v := range p.header {
		w.Header()[k] = v
	}
	if p.status != 0 {
		w.WriteHeader(p.status)
	}
	_, err := io.WriteString(w, p.body)
	return err
}

func capturingHandler(t *testing.T, mutate func(*Config)) (*Handler, cache.Store, *http.Cookie) {
	cfg := testConfig()
	cfg.Capture = CaptureConfig{HTML: true}
	if mutate != nil {
		mutate(&cfg)
	}
	h, store := newTestHandler(t, cfg)
	return h, store, &http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())}
}

func visit(t *testing.T, h *Handler, c *http.Cookie, p page) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/cart", nil)
	r.AddCookie(c)
	w := httptest.NewRecorder()
	if err := serveNow(h, w, r, p); err != nil {
		t.Fatal(err)
	}
	return w
}

func cartLen(t *testing.T, store cache.Store, c *http.Cookie) int {
	id, _, _ := model.ParseCookieValue(c.Value)
	s, err := store.Get(context.Background(), id)
	if err == cache.ErrNotFound {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(s.Cart.Items)
}

func html(body string) page {
	return page{header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: body}
}

func TestCaptureOnlyHTML2xx(t *testing.T) {
	cases := map[string]struct {
		p    page
		want int
	}{
		"html":       {html(cartTagging), 1},
		"xhtml":      {page{header: http.Header{"Content-Type": {"application/xhtml+xml"}}, body: cartTagging}, 1},
		"json":       {page{header: http.Header{"Content-Type": {"application/json"}}, body: cartTagging}, -1},
		"no type":    {page{body: cartTagging}, -1},
		"404":        {page{header: html("").header, status: 404, body: cartTagging}, -1},
		"206":        {page{header: html("").header, status: 206, body: cartTagging}, -1},
		"deflate":    {page{header: http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"deflate"}}, body: cartTagging}, -1},
		"html off":   {html(cartTagging), -1},
		"no tagging": {html("<p>hello</p>"), -1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.HTML = name != "html off" })
			w := visit(t, h, c, tc.p)
			if w.Body.String() != tc.p.body {
				t.Errorf("body changed: %q", w.Body)
			}
			if got := cartLen(t, store, c); got != tc.want {
				t.Errorf("cart items %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCaptureLimitTruncatesScanNotResponse(t *testing.T) {
	h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.Limit = 1024 })
	body := strings.Repeat("<p>filler</p>", 200) + cartTagging // tagging after the limit
	w := visit(t, h, c, html(body))
	if w.Body.String() != body {
		t.Fatal("response cut")
	}
	if cartLen(t, store, c) != -1 || h.Stats().HTML.Truncated.Load() != 1 {
		t.Errorf("tagging past the limit was read (truncated=%d)", h.Stats().HTML.Truncated.Load())
	}
	if n := h.Stats().JSON.Truncated.Load(); n != 0 {
		t.Errorf("an HTML cut counted as JSON: %d", n)
	}
}

func TestSharedCacheDetection(t *testing.T) {
	cases := map[string]struct {
		h    http.Header
		want bool
	}{
		"plain":              {http.Header{}, false},
		"age":                {http.Header{"Age": {"3"}}, true},
		"age zero":           {http.Header{"Age": {"0"}}, false},
		"x-cache hit":        {http.Header{"X-Cache": {"HIT from edge"}}, true},
		"cloudflare hit":     {http.Header{"Cf-Cache-Status": {"HIT"}}, true},
		"cloudflare miss":    {http.Header{"Cf-Cache-Status": {"MISS"}}, false},
		"public":             {http.Header{"Cache-Control": {"public, max-age=60"}}, true},
		"s-maxage":           {http.Header{"Cache-Control": {"s-maxage=60"}}, true},
		"private":            {http.Header{"Cache-Control": {"private, max-age=0"}}, false},
		"public and private": {http.Header{"Cache-Control": {"public", "private"}}, false},
	}
	for name, tc := range cases {
		if got := fromSharedCache(tc.h); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func TestCaptureWriterReachesFlushAndPassesInformational(t *testing.T) {
	h, store, c := capturingHandler(t, nil)
	var flushErr error
	// A real server: httptest's recorder takes a 103 for the final status.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveNow(h, w, r, nextFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, cartTagging)
			flushErr = http.NewResponseController(w).Flush()
			return nil
		}))
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.AddCookie(c)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if flushErr != nil {
		t.Errorf("Flush did not reach the server's writer: %v", flushErr)
	}
	if res.StatusCode != 200 || string(body) != cartTagging || cartLen(t, store, c) != 1 {
		t.Errorf("status %d body %q cart %d", res.StatusCode, body, cartLen(t, store, c))
	}
}

func TestUpgradeAndHEADAreNotWrapped(t *testing.T) {
	h, _, c := capturingHandler(t, nil)
	for _, r := range []*http.Request{httptest.NewRequest("HEAD", "/", nil), httptest.NewRequest("GET", "/ws", nil)} {
		r.Header.Set("Upgrade", map[string]string{"HEAD": "", "GET": "websocket"}[r.Method])
		r.AddCookie(c)
		var seen http.ResponseWriter
		w := httptest.NewRecorder()
		serveNow(h, w, r, nextFunc(func(w http.ResponseWriter, _ *http.Request) error { seen = w; return nil }))
		if seen != http.ResponseWriter(w) {
			t.Errorf("%s: the writer was wrapped", r.Method)
		}
	}
}

func TestMalformedPageKeepsBytesAndValidItems(t *testing.T) {
	h, store, c := capturingHandler(t, nil)
	body := "\xff\xfe<div class=nosto_cart><div class=line_item><span class=product_id>a</span>" +
		"<span class=quantity>x</span><span class=unit_price>1</span></div>" + cartTagging[len(`<div class="nosto_page_type">cart</div><div class="nosto_cart">`):]
	w := visit(t, h, c, html(body))
	if !bytes.Equal(w.Body.Bytes(), []byte(body)) {
		t.Fatal("malformed body changed")
	}
	if got := cartLen(t, store, c); got != 1 || h.Stats().HTML.DroppedFields.Load() == 0 {
		t.Errorf("items %d, dropped %d", got, h.Stats().HTML.DroppedFields.Load())
	}
}

// TestTruncatedPageNeverStoresHalfACart: a cart still open where the scan
// limit cuts the page must be dropped, not stored with the lines seen so
// far (that would replace the visitor's cart with part of it).
func TestTruncatedPageNeverStoresHalfACart(t *testing.T) {
	for _, enc := range []string{"", "gzip"} {
		h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.Limit = 1024 })
		line := func(id string) string {
			return `<div class="line_item"><span class="product_id">` + id + `</span><span class="quantity">1</span><span class="unit_price">1</span></div>`
		}
		body := strings.Repeat("<p>filler</p>", 60) + `<div class="nosto_cart">` + line("first") +
			strings.Repeat("<p>more filler</p>", 60) + line("second") + `</div>`
		p := html(body)
		if enc != "" {
			// Incompressible filler so the compressed copy is cut too.
			body = strings.Replace(body, "<p>more filler</p>", "", -1) + "<!--" + randomText(4096) + "-->"
			p = page{header: http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {enc}}, body: string(gzipped(t, body))}
		}
		if w := visit(t, h, c, p); w.Body.String() != p.body {
			t.Fatalf("%q: response changed", enc)
		}
		if n := cartLen(t, store, c); n != -1 {
			t.Errorf("%q: a cart cut by the limit was stored with %d line(s)", enc, n)
		}
	}
}

func randomText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7919+i*i*31)%26)
	}
	return string(b)
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSubresourcesAreNotWrapped(t *testing.T) {
	h, _, c := capturingHandler(t, nil)
	for dest, wrapped := range map[string]bool{"style": false, "image": false, "script": false, "document": true, "empty": true, "": true} {
		r := httptest.NewRequest("GET", "/x", nil)
		if dest != "" {
			r.Header.Set("Sec-Fetch-Dest", dest)
		}
		r.AddCookie(c)
		var seen http.ResponseWriter
		w := httptest.NewRecorder()
		serveNow(h, w, r, nextFunc(func(w http.ResponseWriter, _ *http.Request) error { seen = w; return nil }))
		if got := seen != http.ResponseWriter(w); got != wrapped {
			t.Errorf("Sec-Fetch-Dest %q: wrapped %v, want %v", dest, got, wrapped)
		}
	}
}

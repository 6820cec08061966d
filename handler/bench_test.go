package handler

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// noop is a next handler that does nothing, so the benchmarks measure
// sessiontap's own cost.
type noop struct{}

func (noop) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkPassThrough is a returning visitor's page view with nothing to
// capture: the path every proxied request takes.
func BenchmarkPassThrough(b *testing.B) {
	h, _ := newTestHandler(b, testConfig())
	r := httptest.NewRequest("GET", "/product/181503", nil)
	r.AddCookie(&http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())})
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := serveNow(h, w, r, noop{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewVisitor issues an id and a cookie.
func BenchmarkNewVisitor(b *testing.B) {
	h, _ := newTestHandler(b, testConfig())
	r := httptest.NewRequest("GET", "/", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := serveNow(h, w, r, noop{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect posts a two-item cart and a customer to one session.
func BenchmarkCollect(b *testing.B) {
	h, _ := newTestHandler(b, testConfig())
	cookie := &http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		if err := serveNow(h, w, collectReq(twoItems, cookie), noop{}); err != nil || w.Code != 200 {
			b.Fatal(w.Code, err, strings.TrimSpace(w.Body.String()))
		}
	}
}

// BenchmarkCaptureTaggedPage is a returning visitor's view of the 7 KiB
// tagged page of bench/: copy, parse and store, over an in-memory writer.
// same: the page is the same bytes every time (the parse is remembered);
// nonce: every response differs by a token, as a page with a per-request
// CSRF token does (parsed every time).
func BenchmarkCaptureTaggedPage(b *testing.B) {
	body, err := os.ReadFile("../bench/www/page-7k.html")
	if err != nil {
		b.Fatal(err)
	}
	for _, nonce := range []bool{false, true} {
		b.Run(map[bool]string{false: "same", true: "nonce"}[nonce], func(b *testing.B) {
			benchTaggedPage(b, body, nonce)
		})
	}
}

func benchTaggedPage(b *testing.B, body []byte, nonce bool) {
	cfg := testConfig()
	cfg.Capture = CaptureConfig{HTML: true}
	h, _ := newTestHandler(b, cfg)
	p := page{header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: string(body)}
	// The token sits where shops put theirs, in the head.
	head := bytes.Index(body, []byte("</head>"))
	r := httptest.NewRequest("GET", "/page-7k.html", nil)
	r.AddCookie(&http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())})
	w := &discard{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if nonce {
			n++
			p.body = fmt.Sprintf("%s<meta name=\"csrf-token\" content=\"%016x\">%s", body[:head], n, body[head:])
		}
		clear(w.h)
		if err := serveNow(h, w, r, p); err != nil {
			b.Fatal(err)
		}
	}
}

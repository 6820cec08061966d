package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// storeDelay is how late the slow Redis answers every script (a write).
const storeDelay = 400 * time.Millisecond

// chunkedShop serves a tagged page of about 10 KB in ten flushed chunks
// (Transfer-Encoding: chunked, no Content-Length).
func chunkedShop(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	chunks := make([]string, 10)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("<p>%04d %s</p>\n", i, strings.Repeat("x", 1000))
	}
	chunks[4] += `<div class="nosto_cart"><div class="line_item"><span class="product_id">1</span>` +
		`<span class="quantity">1</span><span class="unit_price">2</span></div></div>`
	page := strings.Join(chunks, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		for _, c := range chunks {
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, page
}

// A chunked page ends at the shop's pace while every store write takes
// storeDelay: capture stores the page's cart after the last byte is
// handed on, not before. The visitor's next request sees the cart all
// the same (its read waits for the write still queued on this node).
func TestChunkedPageEndsAtTheShopsPace(t *testing.T) {
	p := redistest.NewProxy(t, redisAddr(t))
	shop, page := chunkedShop(t)
	tester := newTester(t)
	tester.InitServer(globalOptions+fmt.Sprintf(`
http://localhost:9080 {
	sessiontap {
		store redis {
			name slow
			address %s
			prefix %s
			index_key %s
			timeout 2s
		}
	}
	header >X-Cart-Count {sessiontap.cart.count}
	reverse_proxy %s {
		flush_interval -1
	}
}
`, p.Addr(), testRedisPrefix(), testIndexKey, strings.TrimPrefix(shop.URL, "http://")), "caddyfile")
	c := rawClient(t)
	p.DelayReplies(storeDelay, "EVALSHA", "EVAL")

	start := time.Now()
	res, err := c.Get("http://localhost:9080/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil || string(body) != page {
		t.Fatalf("the page was not passed on byte for byte (%d of %d bytes): %v", len(body), len(page), err)
	}
	if len(res.TransferEncoding) == 0 || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("the page was not chunked: %v", res.TransferEncoding)
	}
	// Well under one delayed write, with slack for a busy machine.
	if took >= storeDelay*3/4 {
		t.Errorf("the chunked page's last byte came after %s: it waited for the store (writes take %s)", took, storeDelay)
	}
	cookie := res.Header.Get("Set-Cookie")
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	req, _ := http.NewRequest("GET", "http://localhost:9080/", nil)
	req.Header.Set("Cookie", strings.Split(cookie, ";")[0])
	next, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, next.Body)
	next.Body.Close()
	if got := next.Header.Get("X-Cart-Count"); got != "1" {
		t.Errorf("the next request saw X-Cart-Count %q, want the first page's cart (1)", got)
	}
	t.Logf("last byte after %s with every write taking %s", took.Round(time.Millisecond), storeDelay)
}

package caddymodule

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// taggedPage is a shop page with Nosto cart, customer and page-type tagging,
// padded to about 7 KiB like a real page.
func taggedPage(productID string, qty int) string {
	return `<!doctype html><html><head><title>Cart</title><style>.nosto_cart{display:none}</style></head><body>
<nav>` + strings.Repeat(`<a href="/c/x">Category &amp; more</a> `, 120) + `</nav>
<div class="notranslate">
  <div class="nosto_page_type" style="display:none">cart</div>
  <div class="nosto_cart" style="display:none">
    <div class="line_item">
      <span class="product_id">` + productID + `</span>
      <span class="sku_id">` + productID + `-M</span>
      <span class="quantity">` + fmt.Sprint(qty) + `</span>
      <span class="name">Men&#39;s Running Shirt</span>
      <span class="unit_price">123.45</span>
      <span class="price_currency_code">EUR</span>
    </div>
  </div>
  <span class="nosto_customer" style="display:none">
    <span class="email">jane.doe@example.com</span><span class="first_name">Jane</span>
    <span class="last_name">Doe</span><span class="customer_reference">cust-42</span>
    <span class="marketing_permission">true</span>
  </span>
</div>
<footer>` + strings.Repeat("<p>Free shipping over 50 EUR.</p>", 60) + `</footer></body></html>`
}

// shop is the upstream storefront for the capture tests.
func shop(t *testing.T, sseRelease chan struct{}) *httptest.Server {
	mux := http.NewServeMux()
	page := taggedPage("181503", 2)
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	mux.HandleFunc("/compressed/{enc}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", r.PathValue("enc"))
		w.Write(compress(t, r.PathValue("enc"), taggedPage("gz-1", 3)))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		p := taggedPage("chunk-1", 4)
		cut := strings.Index(p, `class="quantity"`) + 9 // inside the attribute
		io.WriteString(w, p[:cut])
		http.NewResponseController(w).Flush()
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, p[cut:])
	})
	mux.HandleFunc("/cached", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Age", "120")
		io.WriteString(w, taggedPage("someone-else", 9))
	})
	mux.HandleFunc("/malformed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, malformedPage)
		w.Header().Set("X-Checksum", "abc")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(r.PathValue("code"), &code)
		w.Header().Set("Content-Type", "text/html")
		if code == http.StatusPartialContent {
			w.Header().Set("Content-Range", "bytes 0-99/7000")
		}
		w.WriteHeader(code)
		if code != 204 && code != 304 {
			io.WriteString(w, taggedPage("not-me", 1)[:100])
		}
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-sseRelease // the test must see the first event before this
		io.WriteString(w, "data: second\n\n")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("upstream hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const malformedPage = `<html><div class="nosto_cart"><div class="line_item"><span class="product_id">1</span>` +
	`<span class="quantity">lots</span><span class="unit_price">12,50 €</span></div><div class="line_item">` +
	"\x00\xff\xfe<span class='product_id'>2<span class=quantity>1</span><span class=\"unit_price\">3.5</span>" +
	`<!-- <div class="nosto_customer"> --><script>var x = "<div class='nosto_cart'>";</script><p <<>>`

func compress(t *testing.T, enc, s string) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "br":
		w = brotli.NewWriter(&b)
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func captureConfig(upstream string) string {
	return siteConfigWith("", "reverse_proxy "+strings.TrimPrefix(upstream, "http://")) + opsSite("", "")
}

// rawClient keeps cookies but never decompresses, so bodies compare as sent.
func rawClient(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
}

func fetch(t *testing.T, c *http.Client, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return res, b
}

// sessionOf reads the visitor's session through the API, on the operator
// site.
func sessionOf(t *testing.T, c *http.Client) map[string]any {
	t.Helper()
	var id string
	for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if ck.Name == "sessiontap_id" {
			id, _, _ = strings.Cut(ck.Value, ".")
		}
	}
	res, body := fetch(t, c, "GET", opsURL+"/sessions/"+id, "Authorization", "Bearer test-key")
	if res.StatusCode == 404 {
		return nil
	}
	if res.StatusCode != 200 {
		t.Fatalf("API: %d %s", res.StatusCode, body)
	}
	return decodeJSON(t, body)
}

func TestCaptureHTMLByteForByte(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	c := rawClient(t)

	direct, want := fetch(t, c, "GET", up.URL+"/page")
	res, got := fetch(t, c, "GET", "http://localhost:9080/page")
	if sha256.Sum256(got) != sha256.Sum256(want) || res.Header.Get("Content-Type") != direct.Header.Get("Content-Type") {
		t.Fatalf("the page changed on its way through (%d vs %d bytes)", len(got), len(want))
	}
	s := sessionOf(t, c)
	items := s["cart"].(map[string]any)["items"].([]any)
	item := items[0].(map[string]any)
	if item["product_id"] != "181503" || item["quantity"] != 2.0 || item["unit_price"] != 123.45 || item["name"] != "Men's Running Shirt" {
		t.Errorf("captured item %v", item)
	}
	cust := s["customer"].(map[string]any)
	if cust["customer_reference"] != "cust-42" || cust["marketing_permission"] != true || s["page_type"] != "cart" {
		t.Errorf("captured customer %v, page type %v", cust, s["page_type"])
	}
}

func TestCaptureCompressed(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	for _, enc := range []string{"gzip", "br", "zstd"} {
		c := rawClient(t)
		_, want := fetch(t, c, "GET", up.URL+"/compressed/"+enc, "Accept-Encoding", enc)
		res, got := fetch(t, c, "GET", "http://localhost:9080/compressed/"+enc, "Accept-Encoding", enc)
		if !bytes.Equal(got, want) || res.Header.Get("Content-Encoding") != enc {
			t.Errorf("%s: body or encoding changed (%q)", enc, res.Header.Get("Content-Encoding"))
		}
		s := sessionOf(t, c)
		if s == nil || !strings.Contains(fmt.Sprint(s["cart"]), "gz-1") {
			t.Errorf("%s: tagging not captured from the compressed page: %v", enc, s)
		}
	}
}

func TestCaptureSplitAcrossWrites(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	c := rawClient(t)
	_, got := fetch(t, c, "GET", "http://localhost:9080/chunked")
	if string(got) != taggedPage("chunk-1", 4) {
		t.Fatal("chunked page changed")
	}
	s := sessionOf(t, c)
	item := s["cart"].(map[string]any)["items"].([]any)[0].(map[string]any)
	if item["product_id"] != "chunk-1" || item["quantity"] != 4.0 {
		t.Errorf("split tagging: %v", item)
	}
}

func TestSharedCacheGuard(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	c := rawClient(t)
	fetch(t, c, "GET", "http://localhost:9080/page")
	_, body := fetch(t, c, "GET", "http://localhost:9080/cached")
	if !strings.Contains(string(body), "someone-else") {
		t.Fatal("cached page not delivered")
	}
	if s := sessionOf(t, c); strings.Contains(fmt.Sprint(s["cart"]), "someone-else") {
		t.Errorf("a shared-cache page overwrote the cart: %v", s["cart"])
	}

	// capture_cached on lets it through.
	tester.InitServer(siteConfigWith(`
		capture_cached on`, "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"))+opsSite("", ""), "caddyfile")
	fetch(t, c, "GET", "http://localhost:9080/cached")
	if s := sessionOf(t, c); !strings.Contains(fmt.Sprint(s["cart"]), "someone-else") {
		t.Errorf("capture_cached on, yet not captured: %v", s["cart"])
	}
}

func TestMalformedPageDeliveredUntouched(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	c := rawClient(t)
	res, got := fetch(t, c, "GET", "http://localhost:9080/malformed")
	if string(got) != malformedPage {
		t.Fatalf("malformed page changed: %q", got)
	}
	if res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailer lost: %v", res.Trailer)
	}
	// The first line item (quantity "lots", price "12,50 €") is dropped;
	// whatever else the scanner makes of the broken rest, it is not stored.
	if s := sessionOf(t, c); s != nil {
		for _, it := range s["cart"].(map[string]any)["items"].([]any) {
			if it.(map[string]any)["product_id"] == "1" {
				t.Errorf("an invalid line item was stored: %v", it)
			}
		}
	}
}

func TestNoBodyStatusesPassUnscanned(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	c := rawClient(t)
	for _, code := range []int{204, 206, 304} {
		res, body := fetch(t, c, "GET", fmt.Sprintf("http://localhost:9080/status/%d", code))
		_, want := fetch(t, c, "GET", fmt.Sprintf("%s/status/%d", up.URL, code))
		if res.StatusCode != code || !bytes.Equal(body, want) {
			t.Errorf("%d: got %d, %d bytes", code, res.StatusCode, len(body))
		}
	}
	res, body := fetch(t, c, "HEAD", "http://localhost:9080/page")
	if res.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d, %d bytes", res.StatusCode, len(body))
	}
	if s := sessionOf(t, c); s != nil {
		t.Errorf("a bodiless answer was scanned: %v", s)
	}
}

func TestSSEArrivesWithoutDelay(t *testing.T) {
	release := make(chan struct{})
	up := shop(t, release)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	res, err := rawClient(t).Get("http://localhost:9080/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	// The upstream holds the second event until we have read the first:
	// if anything buffered the stream, this read would time out.
	first, err := r.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first event: %q %v", first, err)
	}
	close(release)
	r.ReadString('\n')
	if second, _ := r.ReadString('\n'); second != "data: second\n" {
		t.Errorf("second event: %q", second)
	}
}

func TestWebSocketUpgradeThroughHandler(t *testing.T) {
	up := shop(t, nil)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	conn, err := net.DialTimeout("tcp", "localhost:9080", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: localhost:9080\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	fmt.Fprint(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: hello\n" {
		t.Errorf("tunnel: %q %v", line, err)
	}
}

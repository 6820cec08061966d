package caddymodule

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlaceholdersInMatchersHeadersAndLogs: the session's placeholders
// drive a vars matcher, reach a deferred response header, and go into the
// access log with log_append, next to the session id sessiontap adds.
func TestPlaceholdersInMatchersHeadersAndLogs(t *testing.T) {
	up := cartShop(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	tester := newTester(t)
	tester.InitServer(globalOptions+`
http://localhost:9080 {
	log {
		output file `+logPath+`
		format json
	}
	log_append cart_count {sessiontap.cart.count}
	sessiontap {
		api /_sessiontap/api {
			key test-key
		}
	}
	# Deferred: set when the response is written, after sessiontap ran.
	header >X-Cart-Count {sessiontap.cart.count}
	@emptyCheckout {
		path /checkout
		vars {sessiontap.cart.count} 0
	}
	respond @emptyCheckout "your cart is empty" 409
	reverse_proxy `+strings.TrimPrefix(up.URL, "http://")+`
}
`, "caddyfile")

	c := rawClient(t)
	res, body := fetch(t, c, "GET", "http://localhost:9080/checkout")
	if res.StatusCode != 409 || string(body) != "your cart is empty" || res.Header.Get("X-Cart-Count") != "0" {
		t.Fatalf("empty cart: %d %q X-Cart-Count %q", res.StatusCode, body, res.Header.Get("X-Cart-Count"))
	}
	// The page's tagging puts one item in the cart.
	fetch(t, c, "GET", "http://localhost:9080/cart")
	res, body = fetch(t, c, "GET", "http://localhost:9080/checkout")
	if res.StatusCode != 200 || !strings.Contains(string(body), "nosto_cart") || res.Header.Get("X-Cart-Count") != "1" {
		t.Fatalf("full cart: %d X-Cart-Count %q", res.StatusCode, res.Header.Get("X-Cart-Count"))
	}

	id := sessionOf(t, c)["id"].(string)
	var lines []accessLine
	waitFor(t, "three access log lines", func() bool {
		lines = readAccessLog(t, logPath, "/checkout", "/cart")
		return len(lines) >= 3
	})
	// log_append runs after the handlers, so /cart logs the cart it captured.
	want := []string{"0", "1", "1"}
	for i, l := range lines[:3] {
		if l.SessionID != id || l.CartCount != want[i] {
			t.Errorf("log line %d (%s): sessiontap_id %q cart_count %q, want %q %q", i, l.Request.URI,
				l.SessionID, l.CartCount, id, want[i])
		}
	}
}

type accessLine struct {
	Request struct {
		URI string `json:"uri"`
	} `json:"request"`
	SessionID string `json:"sessiontap_id"`
	CartCount string `json:"cart_count"`
}

// readAccessLog returns the access log's lines for the given paths.
func readAccessLog(t *testing.T, path string, uris ...string) []accessLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []accessLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l accessLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		for _, u := range uris {
			if l.Request.URI == u {
				out = append(out, l)
			}
		}
	}
	return out
}

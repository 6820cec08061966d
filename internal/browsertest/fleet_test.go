//go:build linux

package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// TestInspectorShowsTheFleet: two demo nodes on one Redis; a cart added
// through node A appears live in node B's inspector, and node B's page
// shows the session A stored.
func TestInspectorShowsTheFleet(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	t.Cleanup(func() { redistest.DeletePrefix(t, prefix) })
	store := fmt.Sprintf("\t\tstore redis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t\tindex_key browsertest-index-key-0123456789\n\t\t}", addr, prefix)
	wh := startWebhook(t)
	a := startShopWith(t, wh.URL, store)
	b := startShopWith(t, wh.URL, store)
	ctx := browser(t)

	do(t, ctx, "sign in to node b's inspector", 15*time.Second,
		chromedp.Navigate(b.Ops+apiPrefix+"/ui/login"), chromedp.WaitVisible(css("#key")),
		chromedp.SendKeys(css("#key"), apiKey), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css("#live.on")))

	res, err := http.Post(a.URL+"/_sessiontap/collect", "application/json", strings.NewReader(
		`{"cart":{"items":[{"product_id":"181510","quantity":1,"unit_price":89.9,"price_currency_code":"EUR"}]},"page_type":"cart"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var id string
	for _, c := range res.Cookies() {
		if c.Name == "sessiontap_id" {
			id, _, _ = strings.Cut(c.Value, ".")
		}
	}
	if res.StatusCode != 200 || id == "" {
		t.Fatalf("collect through node a: %d, session %q", res.StatusCode, id)
	}
	start := time.Now()
	row := fmt.Sprintf(`#rows tr[data-session=%q]`, id)
	do(t, ctx, "see node a's change in node b's inspector within 2s", 2*time.Second, chromedp.WaitVisible(css(row)))
	t.Logf("node a's change showed in node b's inspector after %s", time.Since(start).Round(time.Millisecond))
	do(t, ctx, "open it on node b", 10*time.Second, chromedp.Click(css(row+" a")),
		poll(`document.querySelectorAll("#s-cart tr").length === 1`))
}

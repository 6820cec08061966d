//go:build linux

package browsertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// plantedID is the session id an attacker chooses for the victim.
const plantedID = "AAAAAAAAAAAAAAAAAAAAAA"

// TestCookieTossingChoosesNoSession is the attack in a real browser: a
// sibling subdomain (evil.shop.test) sets a sessiontap_id cookie for the
// whole domain, so the victim's browser sends it to www.shop.test as well.
// The victim then shops. The planted id must name no session: the victim
// gets a session of ours, keeps it from page to page although the planted
// cookie comes first, and the attacker's id reads nothing.
func TestCookieTossingChoosesNoSession(t *testing.T) {
	wh := startWebhook(t)
	// The sites answer for any host on their ports, so that the browser
	// can reach the shop as www.shop.test (reverse_proxy passes the Host on).
	s := startShopEdited(t, wh.URL, "", func(cfg string) string {
		return strings.ReplaceAll(cfg, "http://127.0.0.1:", "http://:")
	})
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>evil</title><script>
document.cookie = "sessiontap_id=`+plantedID+`.0; Domain=shop.test; Path=/; Max-Age=3600";
document.title = "planted";
</script>`)
	}))
	t.Cleanup(evil.Close)
	front := mustPort(t, s.URL)
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP *.shop.test 127.0.0.1"))

	do(t, ctx, "the sibling plants a cookie for the whole domain", 10*time.Second,
		chromedp.Navigate(fmt.Sprintf("http://evil.shop.test:%s/", mustPort(t, evil.URL))),
		poll(`document.title === "planted"`))
	shopURL := fmt.Sprintf("http://www.shop.test:%s", front)
	do(t, ctx, "the victim opens a product", 15*time.Second,
		chromedp.Navigate(shopURL+"/product-181510.html"), chromedp.WaitVisible(css("#add-to-cart")))
	do(t, ctx, "the planted cookie reaches the shop", 5*time.Second,
		poll(`document.cookie.includes("sessiontap_id=`+plantedID+`")`))
	do(t, ctx, "the victim adds the product to the cart", 10*time.Second,
		chromedp.Click(css(`#add-to-cart button[type=submit]`)), chromedp.WaitVisible(css("#session-id")))
	id := get(t, ctx, "the victim's session id", 5*time.Second, chromedp.Text(css("#session-id")))
	if id == "" || id == plantedID {
		t.Fatalf("the victim's session is %q, the planted id %q", id, plantedID)
	}
	do(t, ctx, "the victim's cart is in their own session", 5*time.Second,
		poll(`(document.querySelector("#stored-cart") || {}).textContent === "1 in the cart"`))
	do(t, ctx, "another page", 10*time.Second, chromedp.Navigate(shopURL+"/cart.html"), chromedp.WaitVisible(css("#cart-body")))
	if again := get(t, ctx, "the session id on the next page", 5*time.Second,
		chromedp.Evaluate[string](`document.querySelector('meta[name="sessiontap-id"]').content`)); again != id {
		t.Fatalf("the next page has session %q, not %q: the planted cookie hid ours", again, id)
	}
	if code := apiStatus(t, s, plantedID); code != http.StatusNotFound {
		t.Errorf("the planted id names a session: API %d", code)
	}
	if code := apiStatus(t, s, id); code != http.StatusOK {
		t.Errorf("the victim's session: API %d", code)
	}
}

func mustPort(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func apiStatus(t *testing.T, s *shop, id string) int {
	req, _ := http.NewRequest("GET", s.Ops+apiPrefix+"/sessions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestCrossSitePostKeepsTheSession: a payment provider's return (another
// site's form POST to the shop) comes without the SameSite=Lax cookie. The
// visitor must come back to the session they had, not to a new one that
// the POST's answer set.
func TestCrossSitePostKeepsTheSession(t *testing.T) {
	wh := startWebhook(t)
	s := startShopEdited(t, wh.URL, "", func(cfg string) string {
		// The shop answers the payment return (a POST) with a page.
		cfg = strings.Replace(cfg, "\troot * ", "\t@return method POST\n\trespond @return \"payment received\" 200\n\troot * ", 1)
		return strings.ReplaceAll(cfg, "http://127.0.0.1:", "http://:")
	})
	shopURL := fmt.Sprintf("http://www.shop.test:%s", mustPort(t, s.URL))
	bank := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>3-D Secure</title>
<form method="post" action="`+shopURL+`/payment/return"><input name="PaRes" value="ok"></form>
<script>document.forms[0].submit()</script>`)
	}))
	t.Cleanup(bank.Close)
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP *.shop.test 127.0.0.1,MAP *.bank.test 127.0.0.1"))
	sessionID := func(what string) string {
		return get(t, ctx, what, 5*time.Second,
			chromedp.Evaluate[string](`document.querySelector('meta[name="sessiontap-id"]').content`))
	}
	do(t, ctx, "the visitor shops", 15*time.Second,
		chromedp.Navigate(shopURL+"/product-181510.html"), chromedp.WaitVisible(css("#add-to-cart")))
	before := sessionID("the session before paying")
	if before == "" {
		t.Fatal("the shop page has no session")
	}
	do(t, ctx, "open the bank's page", 15*time.Second, chromedp.Navigate(fmt.Sprintf("http://acs.bank.test:%s/", mustPort(t, bank.URL))))
	// Its script posts the form: the browser lands on the shop's answer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.textContent`)); err == nil &&
			body == shopURL+"/payment/return payment received" {
			break
		}
		if time.Now().After(deadline) {
			at, err := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("the bank's form never brought the browser back to the shop: at %q (%v)", at, err)
		}
	}
	do(t, ctx, "the visitor goes on shopping", 15*time.Second,
		chromedp.Navigate(shopURL+"/index.html"), chromedp.WaitVisible(css("#sessiontap-stored")))
	if after := sessionID("the session after paying"); after != before {
		t.Fatalf("the visitor came back to session %q, not their own %q: the cross-site POST replaced the cookie", after, before)
	}
}

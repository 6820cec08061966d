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
	req, _ := http.NewRequest("GET", s.URL+apiPrefix+"/sessions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

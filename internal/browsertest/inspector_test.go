//go:build linux

package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// xssName is a product name that would run script if it were ever put
// in the page as markup.
const xssName = `<img src=x onerror=alert(1)>`

// browser starts headless Chromium; it fails under CI=1 when Chromium is
// missing (scripts/test installs it) and skips elsewhere.
func browser(t *testing.T, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := os.Getenv("SESSIONTAP_CHROMIUM")
	if path == "" {
		path, _ = exec.LookPath("chromium")
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (scripts/test installs it with apt-get)")
		}
		t.Skip("chromium is not installed; scripts/test installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	opts = append(opts, flags...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// watchDialogs records whether a tab ever opened a JavaScript dialog
// (alert), and dismisses it.
func watchDialogs(ctx context.Context, opened *atomic.Bool) {
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			opened.Store(true)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
}

// do runs steps within timeout.
func do(t *testing.T, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value, within timeout.
func get[T any](t *testing.T, ctx context.Context, what string, timeout time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// poll waits for a JavaScript predicate.
func poll(expr string) chromedp.Action[chromedp.Void] { return chromedp.Poll[chromedp.Void](expr) }

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, 10*time.Second, chromedp.FullScreenshot(100))
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if name == "session" && os.Getenv("SESSIONTAP_SCREENSHOT") != "" {
		if err := os.WriteFile(os.Getenv("SESSIONTAP_SCREENSHOT"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInspectorInABrowser is an operator's session with the inspector
// while a visitor shops in another tab, against an upstream that fails
// until the operator retries.
func TestInspectorInABrowser(t *testing.T) {
	wh := startWebhook(t)
	wh.failing.Store(true)
	s := startShop(t, wh.URL)
	ctx := browser(t)
	var alerted atomic.Bool
	watchDialogs(ctx, &alerted)

	// Signing in: the page sends us to the sign-in form first.
	do(t, ctx, "open the inspector", 15*time.Second,
		chromedp.Navigate(s.Ops+apiPrefix+"/ui/"), chromedp.WaitVisible(css("#key")))
	if at := get(t, ctx, "location", 5*time.Second, chromedp.Location()); !strings.HasSuffix(at, "/ui/login") {
		t.Fatalf("signed out, the inspector opened at %s, not its sign-in page", at)
	}
	screenshot(t, ctx, "login")
	do(t, ctx, "sign in", 15*time.Second,
		chromedp.SendKeys(css("#key"), apiKey), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css("#list-view")), chromedp.WaitVisible(css("#live.on")))

	// The visitor, in another tab, adds a product to the cart.
	shopTab, closeShop := chromedp.NewContext(ctx)
	defer closeShop()
	watchDialogs(shopTab, &alerted)
	do(t, shopTab, "open a product page", 15*time.Second,
		chromedp.Navigate(s.URL+"/product-181510.html"), chromedp.WaitVisible(css("#add-to-cart")))
	do(t, shopTab, "add to cart", 10*time.Second,
		chromedp.Click(css(`#add-to-cart button[type=submit]`)), chromedp.WaitVisible(css("#session-id")))
	added := time.Now()
	id := get(t, shopTab, "the session id", 5*time.Second, chromedp.Text(css("#session-id")))
	// The demo's panel reads the session back as stored, and links to it.
	do(t, shopTab, "the panel shows the stored session", 5*time.Second,
		poll(`(document.querySelector("#stored-cart") || {}).textContent === "1 in the cart"`))
	if got := get(t, shopTab, "the stored id", 5*time.Second, chromedp.Text(css("#stored-id"))); got != id {
		t.Fatalf("the panel's stored session is %q, the collect's %q", got, id)
	}
	link := get(t, shopTab, "the inspector link", 5*time.Second, chromedp.Evaluate[string](`document.querySelector("#inspector-link").href`))
	if want := s.Ops + apiPrefix + "/ui/#/s/" + id; link != want {
		t.Fatalf("the panel links to %s, want %s", link, want)
	}

	row := fmt.Sprintf(`#rows tr[data-session=%q]`, id)
	do(t, ctx, "see the session appear in the live list within 2s", 2*time.Second, chromedp.WaitVisible(css(row)))
	t.Logf("the visitor's cart showed in the inspector %s after the click", time.Since(added).Round(time.Millisecond))

	// Another page: the panel shows what this page view made of the
	// session (the front page's tagging), not what was sent before.
	do(t, shopTab, "the front page's panel shows the session as it now stands", 10*time.Second,
		chromedp.Navigate(s.URL+"/index.html"),
		poll(`(document.querySelector("#stored-page-type") || {}).textContent === "front"`))

	// The visitor says who they are (the demo's button posts a customer:
	// claimed, since no shop backend signed it).
	do(t, shopTab, "claim a customer", 10*time.Second,
		chromedp.Navigate(s.URL+"/cart.html"), chromedp.Click(css("#login")),
		// The status panel shows the last outcome from before the click
		// too: wait for the one whose body carried the customer.
		poll(`(JSON.parse(localStorage.getItem("sessiontap_demo_last")) || {sent: ""}).sent.includes("customer_reference")`),
		poll(`(document.querySelector("#sessiontap-status .msg") || {}).textContent === "Stored."`))
	// The shop is told who is signed in only by its own server: a customer
	// the browser claimed is not a login, also once the panel shows the
	// session with it (its version is the collect's).
	claimed := get(t, shopTab, "the collect's version", 5*time.Second,
		chromedp.Evaluate[string](`JSON.parse(localStorage.getItem("sessiontap_demo_last")).data.version.toString()`))

	do(t, shopTab, "the claimed customer is no login", 5*time.Second,
		poll(`(document.querySelector("#stored-version") || {}).textContent === `+strconv.Quote(claimed)+` &&
		      document.querySelector("#stored-logged-in").textContent === "false"`))

	// A product whose name is markup: it must show as those characters.
	status := get(t, shopTab, "post a cart with a markup name", 10*time.Second, chromedp.Evaluate[int](fmt.Sprintf(`
		fetch("/_sessiontap/collect", {method: "POST", headers: {"Content-Type": "application/json"},
		  body: JSON.stringify({cart: {items: [
		    {product_id: "181510", sku_id: "181512", name: "Trail Running Shoes", quantity: 1, unit_price: 89.9, price_currency_code: "EUR"},
		    {product_id: "666", name: %q, quantity: 2, unit_price: 5, price_currency_code: "EUR"}]}})
		}).then(r => r.status)`, xssName), chromedp.EvalAwaitPromise))
	if status != 200 {
		t.Fatalf("collect answered %d", status)
	}
	do(t, ctx, "see the new cart in the list", 5*time.Second, poll(`(document.querySelector('`+row+`') || {}).textContent?.includes("2 lines")`))
	screenshot(t, ctx, "list")

	// The session's page: cart lines, and the failing sink's error.
	do(t, ctx, "open the session", 10*time.Second,
		chromedp.Click(css(row+" a")), chromedp.WaitVisible(css("#session-view")),
		poll(`document.querySelectorAll("#s-cart tr").length === 2`))
	names := get(t, ctx, "cart lines", 5*time.Second,
		chromedp.Evaluate[[]string](`[...document.querySelectorAll("#s-cart tr td:first-child")].map(td => td.textContent)`))
	if len(names) != 2 || names[0] != "Trail Running Shoes" || names[1] != xssName {
		t.Fatalf("cart lines %q, want the shoes and %q as text", names, xssName)
	}
	if imgs := get(t, ctx, "count images", 5*time.Second, chromedp.Evaluate[int](`document.querySelectorAll("img").length`)); imgs != 0 {
		t.Fatalf("the markup name became %d img elements", imgs)
	}
	// The customer's email is masked until the operator reveals it.
	customer := func() string {
		return get(t, ctx, "the customer", 5*time.Second, chromedp.Text(css("#s-customer")))
	}
	if c := customer(); strings.Contains(c, "jane.doe@example.com") || !strings.Contains(c, "j•••@example.com") || strings.Contains(c, "Jane") {
		t.Fatalf("the customer shows as %q: want the email and name masked", c)
	}
	do(t, ctx, "reveal the customer", 5*time.Second, chromedp.Click(css("#reveal")),
		poll(`document.querySelector("#s-customer").textContent.includes("jane.doe@example.com")`))
	do(t, ctx, "mask it again", 5*time.Second, chromedp.Click(css("#reveal")),
		poll(`!document.querySelector("#s-customer").textContent.includes("jane.doe@example.com")`))
	webhookRow := `#s-deliveries tr[data-sink="webhook"]`
	do(t, ctx, "see the webhook failing with the upstream's 500", 15*time.Second,
		poll(`(document.querySelector('`+webhookRow+` td.err') || {}).textContent?.startsWith("500")`))
	if failure := get(t, ctx, "the error", 5*time.Second, chromedp.Text(css(webhookRow+" td.err"))); !strings.Contains(failure, "upstream is down") {
		t.Fatalf("the webhook's error reads %q, want the upstream's answer", failure)
	}
	// The shop's delivery allows one attempt: the sink gave up, and says
	// so, not "Attempts 0" as if a retry were coming.
	do(t, ctx, "see the webhook given up", 10*time.Second,
		poll(`(document.querySelector('`+webhookRow+` .badge') || {}).textContent === "given_up"`))
	gaveUp := get(t, ctx, "the attempts", 5*time.Second, chromedp.Text(css(webhookRow+" td.attempts")))
	if !strings.HasPrefix(gaveUp, "given up after 1 attempt, ") || !strings.Contains(gaveUp, "500 upstream is down") {
		t.Fatalf("the webhook's attempts read %q, want given up after 1 attempt, when, and the 500", gaveUp)
	}
	if next := get(t, ctx, "the next retry", 5*time.Second, chromedp.Text(css(webhookRow+" td:nth-child(7)"))); next != "—" {
		t.Fatalf("a given-up delivery shows a next retry %q", next)
	}
	screenshot(t, ctx, "session-failing")

	// The upstream is back: retry now delivers.
	wh.failing.Store(false)
	do(t, ctx, "retry and see it delivered", 15*time.Second,
		chromedp.Click(css(webhookRow+" button.retry")),
		poll(`(document.querySelector('`+webhookRow+` .badge') || {}).textContent === "delivered"`))
	if wh.delivered.Load() == 0 {
		t.Fatal("the inspector says delivered, the webhook received nothing")
	}
	// No consent is configured: the sink needs none.
	if c := get(t, ctx, "the consent cell", 5*time.Second, chromedp.Text(css(webhookRow+" td.consent"))); c != "not needed" {
		t.Fatalf("the webhook's consent cell reads %q", c)
	}
	// Replay to the sink every session written in the last hour: both.
	do(t, ctx, "replay to the webhook", 20*time.Second,
		chromedp.SetValue(css("#replay-since"), time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)),
		chromedp.Click(css(webhookRow+" button.replay")),
		poll(`/^replayed: 2 queued/.test((document.querySelector('`+webhookRow+` button.replay') || {}).textContent || "")`))
	screenshot(t, ctx, "session-replayed")
	do(t, ctx, "see the history", 5*time.Second, poll(`document.querySelectorAll("#s-history li").length >= 2`))
	screenshot(t, ctx, "session")
	// The summary strip: captures by source, the sink's queue and losses, the store.
	// In words, not counter names; the store's size is its sessions' data.
	do(t, ctx, "see the summary strip", 10*time.Second, poll(`(t => /Pages read: \d+ \(4 changed a session/.test(t) &&
		/Sink webhook: 0 waiting, [1-9]\d* failed, 0 dropped/.test(t) && /Store: 2 sessions, [\d.]+ (B|KiB) of session data/.test(t) &&
		!/_/.test(t))(document.querySelector("#summary").textContent)`))
	do(t, ctx, "see the list's row delivered too", 5*time.Second, chromedp.Click(css(`a[href="#/"]`)),
		poll(`(document.querySelector('`+row+` .badge') || {}).textContent === "webhook: delivered"`))

	// Signed out, the feed refuses the page.
	do(t, ctx, "sign out", 10*time.Second, chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#key")))
	if after := get(t, ctx, "the feed after sign-out", 5*time.Second,
		chromedp.Evaluate[int](`fetch("events").then(r => r.status)`, chromedp.EvalAwaitPromise)); after != 401 {
		t.Fatalf("after sign-out the feed answered %d, want 401", after)
	}

	// The shop's link, signed out, goes through the sign-in to the session.
	do(t, ctx, "follow the shop's link while signed out", 15*time.Second,
		chromedp.Navigate(link), chromedp.WaitVisible(css("#key")),
		chromedp.SendKeys(css("#key"), apiKey), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css("#session-view")), poll(`document.querySelector("#s-id").textContent === `+fmt.Sprintf("%q", id)))
	// An unknown session shows nothing of the one before.
	do(t, ctx, "open an unknown session", 10*time.Second,
		chromedp.Navigate(s.Ops+apiPrefix+"/ui/#/s/no-such-session"), chromedp.WaitVisible(css("#s-error")),
		poll(`document.querySelector("#session-view .grid").hidden && !document.querySelector("#session-view").innerText.includes("Trail Running Shoes")`))
	if alerted.Load() {
		t.Fatal("a JavaScript dialog opened: shop data ran as script")
	}
}

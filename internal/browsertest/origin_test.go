//go:build linux

package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// probe is what a script on a page got from one request: whether the
// browser let it read the answer at all, and what it read.
type probe struct {
	Name string `json:"name"`
	Read bool   `json:"read"`
	Body string `json:"body"`
}

// probes runs fetches from the page in ctx, with the browser's cookies,
// and reports what each could read.
func probes(t *testing.T, ctx context.Context, what string, reqs map[string]string) []probe {
	t.Helper()
	var js strings.Builder
	js.WriteString("Promise.all([")
	for name, url := range reqs {
		fmt.Fprintf(&js, `fetch(%q, {credentials: "include"}).then(r => r.text()).then(b => ({name: %q, read: true, body: b}), e => ({name: %q, read: false, body: String(e)})),`, url, name, name)
	}
	js.WriteString("])")
	return get(t, ctx, what, 15*time.Second, chromedp.Evaluate[[]probe](js.String(), chromedp.EvalAwaitPromise))
}

// TestShopPageScriptReadsNothingOfTheOperators: an operator is signed in
// to the inspector, which the demo serves on an origin of its own (the
// same host, another port: one site, as ops.shop.example is to
// www.shop.example). A script on a shop page (an XSS, a compromised tag)
// tries everything the operator's sign-in opens: the live feed, the CSRF
// token, a session with the customer's email. It reads none of it, and
// the shop never sees the operator's cookie. The same requests from the
// inspector's own page read all of it: the control.
func TestShopPageScriptReadsNothingOfTheOperators(t *testing.T) {
	wh := startWebhook(t)
	s := startShopEdited(t, wh.URL, "", func(cfg string) string {
		// The shop echoes the cookies it is sent under the API's path,
		// as a careless debug page would.
		return strings.Replace(cfg, "\troot * ", "\t@echo path /_sessiontap/api/echo\n\trespond @echo \"cookies: {http.request.header.Cookie}\" 200\n\troot * ", 1)
	})
	ctx := browser(t)
	do(t, ctx, "the operator signs in", 15*time.Second,
		chromedp.Navigate(s.Ops+apiPrefix+"/ui/login"), chromedp.WaitVisible(css("#key")),
		chromedp.SendKeys(css("#key"), apiKey), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css("#live.on")))

	shopTab, closeShop := chromedp.NewContext(ctx)
	defer closeShop()
	var alerted atomic.Bool
	watchDialogs(shopTab, &alerted)
	do(t, shopTab, "open a product page", 15*time.Second,
		chromedp.Navigate(s.URL+"/product-181510.html"), chromedp.WaitVisible(css("#add-to-cart")))
	do(t, shopTab, "add to cart", 15*time.Second,
		chromedp.Click(css(`#add-to-cart button[type=submit]`)), chromedp.WaitVisible(css("#session-id")))
	if alerted.Load() {
		t.Error("the shop page opened a dialog")
	}
	id := get(t, shopTab, "the session id", 5*time.Second, chromedp.Text(css("#session-id")))
	const email = "canary.origin@shop.test"
	status := get(t, shopTab, "the customer gives an email", 10*time.Second, chromedp.Evaluate[int](
		`fetch("/_sessiontap/collect", {method: "POST", headers: {"Content-Type": "application/json"},
			body: JSON.stringify({customer: {email: "`+email+`"}})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 200 {
		t.Fatalf("collect answered %d", status)
	}

	ops := s.Ops + apiPrefix
	reqs := map[string]string{
		"feed":    ops + "/ui/events",
		"csrf":    ops + "/ui/me",
		"summary": ops + "/ui/summary",
		"session": ops + "/sessions/" + id,
	}
	// The control first: from the inspector's page, the sign-in reads it all.
	for _, p := range probes(t, ctx, "the inspector's page reads", map[string]string{
		"csrf": reqs["csrf"], "session": reqs["session"], "summary": reqs["summary"]}) {
		if !p.Read || (p.Name == "session" && !strings.Contains(p.Body, email)) || (p.Name == "csrf" && !strings.Contains(p.Body, `"csrf"`)) {
			t.Fatalf("control: the inspector's own page could not read %s: %+v", p.Name, p)
		}
	}

	// The attack, from the shop's page, on its own origin and on the
	// operators'.
	reqs["shop-origin session"] = "/_sessiontap/api/sessions/" + id
	reqs["shop-origin csrf"] = "/_sessiontap/api/ui/me"
	reqs["echo"] = "/_sessiontap/api/echo"
	got := probes(t, shopTab, "the shop page's script tries", reqs)
	if len(got) != len(reqs) {
		t.Fatalf("%d probes ran, want %d: %+v", len(got), len(reqs), got)
	}
	for _, p := range got {
		switch {
		case strings.Contains(p.Body, email) || strings.Contains(p.Body, `"csrf"`) || strings.Contains(p.Body, `"captures"`):
			t.Errorf("a shop page's script read %s: %+v", p.Name, p)
		case strings.HasPrefix(p.Name, "shop-origin") || p.Name == "echo":
			// The shop's own origin answers, as the shop: no operator route.
			if !p.Read {
				t.Errorf("the shop's own origin did not answer %s: %+v", p.Name, p)
			}
		case p.Read:
			t.Errorf("the browser let a shop page read the operators' %s: %+v", p.Name, p)
		}
	}
	for _, p := range got {
		if p.Name == "echo" && (!strings.HasPrefix(p.Body, "cookies:") || strings.Contains(p.Body, "sessiontap_inspector")) {
			t.Errorf("the shop was sent the operator's sign-in: %q", p.Body)
		}
	}
	if c := get(t, shopTab, "the shop page's cookies", 5*time.Second, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(c, "sessiontap_inspector") {
		t.Errorf("a shop page's script sees the operator's cookie: %q", c)
	}
}

// TestEmptyDeliveriesSpanTheTable: without sinks, the deliveries table's
// one row says so across the whole table, not in its first column.
func TestEmptyDeliveriesSpanTheTable(t *testing.T) {
	wh := startWebhook(t)
	s := startShopEdited(t, wh.URL, "", func(cfg string) string {
		start := strings.Index(cfg, "\t\tforward webhook ")
		end := strings.Index(cfg, "\t\tdelivery {\n\t\t\tmax_attempts 1\n\t\t}\n")
		if start < 0 || end < start {
			t.Fatal("the harness's forward block moved")
		}
		return cfg[:start] + cfg[end+len("\t\tdelivery {\n\t\t\tmax_attempts 1\n\t\t}\n"):]
	})
	res, err := http.Post(s.URL+"/_sessiontap/collect", "application/json", strings.NewReader(`{"page_type":"front"}`))
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
	if id == "" {
		t.Fatalf("collect answered %d without a session cookie", res.StatusCode)
	}
	ctx := browser(t)
	do(t, ctx, "sign in and open the session", 15*time.Second,
		chromedp.Navigate(s.Ops+apiPrefix+"/ui/login"), chromedp.WaitVisible(css("#key")),
		chromedp.SendKeys(css("#key"), apiKey), chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css("#live.on")),
		chromedp.Navigate(s.Ops+apiPrefix+"/ui/#/s/"+id), chromedp.WaitVisible(css("#s-deliveries td.note")))
	span := get(t, ctx, "the note's span and the table's columns", 5*time.Second, chromedp.Evaluate[[]int](
		`[document.querySelector("#s-deliveries td.note").colSpan, document.querySelectorAll("table.deliveries thead th").length]`))
	if len(span) != 2 || span[0] != span[1] || span[1] < 2 {
		t.Errorf("the no-sinks note spans %v columns of the table's", span)
	}
}

package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestUnmarshalCaddyfileFull(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sessiontap {
		cookie sid max_age 7d
		session cookie 2c.cId
		session header X-Session-Id
		respect_dnt off
		opt_out_cookie no_track
		store bigcache {
			name shop
			ttl 2h
			max_size 64MiB
		}
		collect /collect
		capture html off
		capture_limit 1MiB
		capture_budget 32MiB
		capture_cached on
		forward talonone https://base.talon.one {
			api_key {env.TALON_KEY}
			on action
			dry
			response_content customerSession customerProfile
		}
		forward emporix https://api.emporix.io {
			tenant shop
			client_id id
			client_secret {env.EMPORIX_SECRET}
			site_code main
		}
		hmac_key {env.HMAC}
		delivery {
			queue_size 50
			concurrency 4
			max_attempts 3
			timeout 2s
			grace 5s
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Cookie.Name != "sid" || h.Cookie.MaxAge != caddy.Duration(7*24*3600e9) {
		t.Errorf("cookie %+v", h.Cookie)
	}
	if len(h.Sessions) != 2 || h.Sessions[0] != (SessionSource{"cookie", "2c.cId"}) || h.Sessions[1] != (SessionSource{"header", "X-Session-Id"}) {
		t.Errorf("sessions %+v", h.Sessions)
	}
	if h.RespectDNT == nil || *h.RespectDNT || h.OptOutCookie != "no_track" || h.Collect != "/collect" {
		t.Errorf("options %+v", h)
	}
	if c := h.Capture; c == nil || c.HTML == nil || *c.HTML || c.Limit != 1<<20 || c.Budget != 32<<20 || !c.Cached {
		t.Errorf("capture %+v", h.Capture)
	}
	if len(h.Forward) != 2 || h.Forward[0].On != "action" || !h.Forward[0].Dry || len(h.Forward[0].ResponseContent) != 2 ||
		h.Forward[1].ClientSecret != "{env.EMPORIX_SECRET}" || h.HMACKey != "{env.HMAC}" {
		t.Errorf("forward %+v hmac %q", h.Forward, h.HMACKey)
	}
	if d := h.Delivery; d == nil || d.QueueSize != 50 || d.Concurrency != 4 || d.MaxAttempts != 3 || d.Grace != caddy.Duration(5e9) {
		t.Errorf("delivery %+v", h.Delivery)
	}
	var store map[string]any
	if err := json.Unmarshal(h.StoreRaw, &store); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"backend": "bigcache", "name": "shop", "ttl": float64(2 * 3600e9), "max_size": float64(64 << 20)}
	for k, v := range want {
		if store[k] != v {
			t.Errorf("store[%s] = %v, want %v", k, store[k], v)
		}
	}
}

// TestUnmarshalOperatorCaddyfileFull: every option of sessiontap_api, and
// its store in the syntax (and JSON) of sessiontap's.
func TestUnmarshalOperatorCaddyfileFull(t *testing.T) {
	o, err := parseOperator(t, `sessiontap_api /ops {
		store bigcache {
			name shop
			ttl 2h
		}
		key one
		key {env.SESSIONTAP_KEY}
		backend_key {env.SHOP_BACKEND_KEY}
		saas_token static tok-1 cust-1
		inspector {
			ttl 15m
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if o.Prefix != "/ops" || len(o.Keys) != 2 || o.Keys[1] != "{env.SESSIONTAP_KEY}" || len(o.KeyOrigins) != 2 || o.KeyOrigins[0] != "Testfile:6" {
		t.Errorf("keys %+v", o.API)
	}
	if len(o.BackendKeys) != 1 || o.BackendKeys[0] != "{env.SHOP_BACKEND_KEY}" || o.SaaSToken == nil || o.SaaSToken.Static["tok-1"] != "cust-1" {
		t.Errorf("backend keys and saas_token %+v %+v", o.BackendKeys, o.SaaSToken)
	}
	if o.Inspector == nil || time.Duration(o.Inspector.TTL) != 15*time.Minute {
		t.Errorf("inspector %+v", o.Inspector)
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sessiontap {\n\tstore bigcache {\n\t\tname shop\n\t\tttl 2h\n\t}\n}")); err != nil {
		t.Fatal(err)
	}
	if string(o.StoreRaw) != string(h.StoreRaw) {
		t.Errorf("store JSON %s, sessiontap's is %s", o.StoreRaw, h.StoreRaw)
	}

	// The prefix and the store are optional: Provision fills in the defaults.
	o, err = parseOperator(t, "sessiontap_api {\n\tkey k\n}")
	if err != nil || o.Prefix != "" || o.StoreRaw != nil || len(o.Keys) != 1 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

func TestUnmarshalCaddyfileErrorsNameTheLine(t *testing.T) {
	cases := []struct{ input, line, msg string }{
		{"sessiontap {\n\tcookie\n}", ":2", "wrong argument count"},
		{"sessiontap {\n\tcookie sid max_age soon\n}", ":2", "max_age"},
		{"sessiontap {\n\tcookie sid maxage 1d\n}", ":2", "expected max_age"},
		{"sessiontap {\n\tcookie sid secret\n}", ":2", "wrong argument count"},
		{"sessiontap {\n\tcollect /c {\n\t\tcustomer_tokn hmac k\n\t}\n}", ":3", `did you mean "customer_token"`},
		{"sessiontap {\n\tcollect /c {\n\t\tcustomer_token rsa k\n\t}\n}", ":3", "expected hmac"},
		{"sessiontap {\n\n\tsession query sid\n}", ":3", "expected cookie or header"},
		{"sessiontap {\n\trespect_dnt maybe\n}", ":2", "respect_dnt"},
		{"sessiontap {\n\tstore bigcache {\n\t\tttl forever\n\t}\n}", ":3", "ttl"},
		{"sessiontap {\n\tstore bigcache {\n\t\tmax_size lots\n\t}\n}", ":3", "max_size"},
		{"sessiontap {\n\tstore bigcache {\n\t\tcolour red\n\t}\n}", ":3", "colour"},
		{"sessiontap {\n\tstore nosuch\n}", ":2", "nosuch"},
		{"sessiontap {\n\tapi /ops {\n\t\tkey k\n\t}\n}", ":2", "sessiontap_api"},
		{"sessiontap {\n\tcolect /c\n}", ":2", "colect"},
		{"sessiontap extra", ":1", "wrong argument count"},
		{"sessiontap {\n\tcapture xml\n}", ":2", "expected html or json"},
		{"sessiontap {\n\tforward salesforce https://x\n}", ":2", "unknown sink"},
		{"sessiontap {\n\tforward talonone ftp://x {\n\t\tapi_key k\n\t}\n}", ":2", "http(s) URL"},
		{"sessiontap {\n\tforward talonone https://x\n}", ":2", "api_key is required"},
		{"sessiontap {\n\tforward webhook https://x {\n\t\tsecret s\n\t\ton sometimes\n\t}\n}", ":4", "change or action"},
		{"sessiontap {\n\tforward nosto https://x {\n\t\tkey k\n\t}\n}", ":3", "unrecognized option"},
		{"sessiontap {\n\tdelivery {\n\t\tqueue_size lots\n\t}\n}", ":3", "queue_size"},
		{"sessiontap {\n\tdelivery {\n\t\tgrace -1s\n\t}\n}", ":3", "grace"},
		{"sessiontap {\n\tcapture json magento\n}", ":2", "unknown preset"},
		{"sessiontap {\n\tcapture json {\n\t\troute GET /cart response\n\t\titems lines\n\t}\n}", ":5", "ProductID: required"},
		{"sessiontap {\n\tcapture json {\n\t\tcolour red\n\t}\n}", ":3", "unrecognized option"},
		{"sessiontap {\n\tcapture json {\n\t\tprice_divisor cents\n\t}\n}", ":3", "price_divisor"},
		{"sessiontap {\n\tcapture html maybe\n}", ":2", "capture html: expected on or off"},
		{"sessiontap {\n\tcapture_limit huge\n}", ":2", "capture_limit"},
		{"sessiontap {\n\tcapture_budget 5GiB\n}", ":2", "capture_budget: \"5GiB\" is not a size such as 64MiB (at most 4GiB)"},
		{"sessiontap {\n\tcapture_cached yes\n}", ":2", "capture_cached: expected on or off"},
	}
	for _, tc := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil {
			t.Errorf("%q: no error", tc.input)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile"+tc.line) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %q, want line %s and %q", tc.input, err, tc.line, tc.msg)
		}
	}
}

func TestUnmarshalOperatorCaddyfileErrorsNameTheLine(t *testing.T) {
	cases := []struct{ input, line, msg string }{
		{"sessiontap_api /ops {\n\tsecret x\n}", ":2", `sessiontap_api: unrecognized option "secret"`},
		{"sessiontap_api /ops", ":1", "sessiontap_api: at least one key is required"},
		{"sessiontap_api /ops {\n\tbackend_key b\n}", ":3", "sessiontap_api: at least one key is required"},
		{"sessiontap_api /ops /more {\n\tkey k\n}", ":1", "wrong argument count"},
		{"sessiontap_api /ops {\n\tkey\n}", ":2", "wrong argument count"},
		{"sessiontap_api /ops {\n\tkey a b\n}", ":2", "wrong argument count"},
		{"sessiontap_api /ops {\n\tkey k\n\tstore\n}", ":3", "wrong argument count"},
		{"sessiontap_api /ops {\n\tkey k\n\tstore nosuch\n}", ":3", "nosuch"},
		{"sessiontap_api /ops {\n\tkey k\n\tstore bigcache {\n\t\tttl forever\n\t}\n}", ":4", "ttl"},
		{"sessiontap_api /ops {\n\tkey k\n\tstore redis {\n\t\taddress a:1\n\t}\n}", ":3", "index_key is required"},
		{"sessiontap_api /ops {\n\tkey k\n\tinspector {\n\t\tttl soon\n\t}\n}", ":4", "inspector: ttl"},
	}
	for _, tc := range cases {
		_, err := parseOperator(t, tc.input)
		if err == nil {
			t.Errorf("%q: no error", tc.input)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile"+tc.line) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %q, want line %s and %q", tc.input, err, tc.line, tc.msg)
		}
	}
}

// TestDirectiveOrder checks that sessiontap sits after encode and before the
// handlers that answer, whatever order the site block lists them in.
func TestDirectiveOrder(t *testing.T) {
	input := `localhost:9080 {
		reverse_proxy localhost:9999
		sessiontap
		encode gzip
	}`
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	order := handlerOrder(string(out))
	want := []string{"encode", "sessiontap", "reverse_proxy"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("handler order %v, want %v", order, want)
	}
}

// handlerOrder lists the "handler" names in a JSON config in document order.
func handlerOrder(config string) []string {
	var names []string
	for _, part := range strings.Split(config, `"handler":"`)[1:] {
		names = append(names, part[:strings.IndexByte(part, '"')])
	}
	// The site's subroute wraps the handlers; drop it.
	if len(names) > 0 && names[0] == "subroute" {
		names = names[1:]
	}
	return names
}

func TestValidate(t *testing.T) {
	cases := map[string]Handler{
		"cookie name":    {Cookie: &Cookie{Name: "bad name"}},
		"session from":   {Sessions: []SessionSource{{From: "query", Name: "sid"}}},
		"session name":   {Sessions: []SessionSource{{From: "header", Name: "X:Y"}}},
		"our own cookie": {Sessions: []SessionSource{{From: "cookie", Name: DefaultCookieName}}},
		"collect path":   {Collect: "collect"},
	}
	for name, h := range cases {
		h.setDefaults()
		if err := h.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := Handler{Sessions: []SessionSource{{From: "cookie", Name: "2c.cId"}}}
	ok.setDefaults()
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestValidateOperator(t *testing.T) {
	cases := map[string]struct {
		o    OperatorHandler
		want string
	}{
		"trailing slash": {OperatorHandler{API: API{Prefix: "/ops/", Keys: []string{"k"}}}, "sessiontap_api: prefix must start with /"},
		"relative":       {OperatorHandler{API: API{Prefix: "ops", Keys: []string{"k"}}}, "sessiontap_api: prefix must start with /"},
		"root":           {OperatorHandler{API: API{Prefix: "/", Keys: []string{"k"}}}, "sessiontap_api: prefix must start with /"},
		"inspector":      {OperatorHandler{API: API{Prefix: "/ops", Keys: []string{"k"}, Inspector: &Inspector{FeedSize: -1}}}, "inspector: feed_size"},
	}
	for name, tc := range cases {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	ok := OperatorHandler{API: API{Prefix: "/ops", Keys: []string{"k"}, Inspector: &Inspector{}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

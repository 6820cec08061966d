package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// After a GDPR delete by email, nothing of the customer is left anywhere
// in Redis under the store's prefix: not the session, its history, the
// customer index, the delivery outbox or the inspector's live feed.
func TestGDPRDeleteLeavesNothingInRedis(t *testing.T) {
	store, prefix := redisStoreBlock(t)
	testGDPRDeleteLeavesNothing(t, store, prefix, redistest.Client(t))
}

// The same on a Redis Cluster, where the customer's index, session,
// outbox and feed entries sit on several primaries.
func TestGDPRDeleteLeavesNothingInRedisCluster(t *testing.T) {
	store, prefix := clusterStoreBlock(t)
	testGDPRDeleteLeavesNothing(t, store, prefix, redistest.ClusterClient(t))
}

func testGDPRDeleteLeavesNothing(t *testing.T, store, prefix string, client rueidis.Client) {
	const (
		email = "canary.guest@example.com"
		first = "Canarina"
		last  = "Kanarienvogel"
		ref   = "canary-ref-0451"
		path  = "/canary-landing-path"
		item  = "Canary Yellow Raincoat"
	)
	rc, srv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(store+fmt.Sprintf(`
		forward webhook %s {
			secret whsec
		}
		hmac_key %s`, srv.URL, testHMACKey), `header Content-Type text/html
	respond "<div class=\"nosto_page_type\">product</div>"`)+opsSite(store, "\t\tinspector"), "caddyfile")
	c := rawClient(t)
	fetch(t, c, "GET", "http://localhost:9080"+path, "Sec-Fetch-Dest", "document")
	body := fmt.Sprintf(`{"customer":{"customer_reference":%q,"email":%q,"first_name":%q,"last_name":%q},`+
		`"cart":{"items":[{"product_id":"p1","name":%q,"quantity":1,"unit_price":1}]}}`, ref, email, first, last, item)
	if res, out := postJSON(t, c, body); res.StatusCode != 200 {
		t.Fatalf("collect: %d %s", res.StatusCode, out)
	}
	id := visitorID(t, c)
	waitFor(t, "the webhook delivery", func() bool { return len(rc.seen(id)) > 0 })
	canaries := []string{email, first, last, ref, path, item}
	if found := keyspaceHolds(t, client, prefix, canaries); len(found) == 0 {
		t.Fatal("before the delete Redis holds none of the canaries: the test proves nothing")
	}

	res, out := do(t, tester, "POST", opsURL+"/customers/delete", `{"email":"`+strings.ToUpper(email)+`"}`,
		"Authorization", "Bearer test-key", "Content-Type", "application/json")
	if res.StatusCode != 200 || out != "{\"deleted\":1}\n" {
		t.Fatalf("delete by email: %d %s", res.StatusCode, out)
	}
	if found := keyspaceHolds(t, client, prefix, canaries); len(found) > 0 {
		t.Errorf("after the delete Redis still holds %v", found)
	}
	if code, _ := apiGet(t, tester, id); code != 404 {
		t.Errorf("the session reads %d after the delete", code)
	}
}

// keyspaceHolds lists "key: canary" for every canary found in a value
// (or a key name) under prefix, whatever the key's type, on the server or
// every primary of a cluster.
func keyspaceHolds(t *testing.T, c rueidis.Client, prefix string, canaries []string) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	for _, node := range c.Nodes() {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatal(err)
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue // its primary is read
		}
		keys, err := node.Do(ctx, node.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			text := k + "\n" + dumpKey(t, node, k)
			for _, v := range canaries {
				if strings.Contains(strings.ToLower(text), strings.ToLower(v)) {
					found = append(found, k+": "+v)
				}
			}
		}
	}
	return found
}

// dumpKey is everything a key holds, as text.
func dumpKey(t *testing.T, c rueidis.Client, k string) string {
	ctx := context.Background()
	typ, err := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	var cmd rueidis.Completed
	switch typ {
	case "string":
		cmd = c.B().Get().Key(k).Build()
	case "hash":
		cmd = c.B().Hgetall().Key(k).Build()
	case "set":
		cmd = c.B().Smembers().Key(k).Build()
	case "zset":
		cmd = c.B().Zrange().Key(k).Min("0").Max("-1").Build()
	case "list":
		cmd = c.B().Lrange().Key(k).Start(0).Stop(-1).Build()
	case "stream":
		cmd = c.B().Xrange().Key(k).Start("-").End("+").Build()
	default:
		return ""
	}
	return fmt.Sprint(c.Do(ctx, cmd).ToAny())
}

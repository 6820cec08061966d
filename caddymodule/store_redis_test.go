package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// The Redis tests run against a real redis-server at SESSIONTAP_REDIS_ADDR
// (host:port); scripts/test starts one.

const testIndexKey = "sessiontap-test-index-key-0123456"

// redisAddr is the test server's address (see redistest.Addr).
func redisAddr(t testing.TB) string { return redistest.Addr(t) }

// testRedisPrefix is a prefix of this run's own, so that runs never see
// each other's keys on a shared server.
func testRedisPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sessiontap-test:caddymodule:" + hex.EncodeToString(b[:]) + ":"
}

func TestRedisCaddyfileEveryOption(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sessiontap {
		store redis {
			name shared
			address 10.0.0.1:6379 10.0.0.2:6379
			address 10.0.0.3:6379
			username caddy
			password {env.REDIS_PASSWORD}
			tls insecure_skip_verify
			prefix shop:
			ttl 2h
			timeout 200ms
			index_key {env.SESSIONTAP_INDEX_KEY}
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(h.StoreRaw, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"addresses":["10.0.0.1:6379","10.0.0.2:6379","10.0.0.3:6379"],"backend":"redis",` +
		`"index_key":"{env.SESSIONTAP_INDEX_KEY}","name":"shared","password":"{env.REDIS_PASSWORD}","prefix":"shop:",` +
		`"timeout":200000000,"tls":{"insecure_skip_verify":true},"ttl":7200000000000,"username":"caddy"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("store JSON\n got %s\nwant %s", b, want)
	}

	// url instead of address, and tls without an argument: verification on.
	d = caddyfile.NewTestDispenser("redis {\n\turl rediss://{env.REDIS_URL_CREDS}@redis.internal:6380/0\n\ttls\n\tindex_key k\n}")
	var r RedisStore
	if err := r.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if r.URL != "rediss://{env.REDIS_URL_CREDS}@redis.internal:6380/0" || r.TLS == nil || r.TLS.InsecureSkipVerify {
		t.Errorf("url/tls: %+v %+v", r, r.TLS)
	}
}

func TestRedisCaddyfileErrors(t *testing.T) {
	const ok = "\t\taddress localhost:6379\n\t\tindex_key k\n"
	cases := []struct{ body, want string }{
		{ok + "\t\tadress x\n", `store redis: unrecognized option "adress", did you mean "address"?, at Testfile:5`},
		{ok + "\t\tpasword x\n", `store redis: unrecognized option "pasword", did you mean "password"?, at Testfile:5`},
		{ok + "\t\ttls verify\n", `tls: expected nothing or insecure_skip_verify, got "verify", at Testfile:5`},
		{ok + "\t\ttimeout soon\n", `timeout: "soon" is not a positive duration, at Testfile:5`},
		{ok + "\t\taddress\n", `wrong argument count`},
		{"\t\taddress localhost:6379\n", `store redis: index_key is required`},
		{"\t\tindex_key k\n", `store redis: address, cluster, url or sentinel is required`},
		{ok + "\t\turl redis://localhost\n", `store redis: use address or url, not both`},
		{ok + "\t\tsentinel s:26379\n\t\tmaster_name m\n", `store redis: with sentinel, the sentinels find the server: leave out address and url`},
		{"\t\tindex_key k\n\t\tsentinel s:26379\n", `store redis: sentinel needs master_name`},
		{ok + "\t\tmaster_name m\n", `store redis: master_name needs the sentinels' addresses`},
		{"\t\tindex_key k\n\t\tsentinel s:26379\n\t\tmaster_nme m\n", `did you mean "master_name"?`},
	}
	for _, tc := range cases {
		input := "sessiontap {\n\tstore redis {\n" + tc.body + "\t}\n}"
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want %q with file:line", tc.body, err, tc.want)
		}
	}
	// A missing required option is reported at the store line.
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sessiontap {\n\tstore redis {\n\t\taddress a:1\n\t}\n}"))
	if err == nil || !strings.HasSuffix(err.Error(), "at Testfile:2") {
		t.Errorf("missing index_key: %v, want it at Testfile:2", err)
	}
}

// TestRedisOptionsMatchSwitch keeps redisOptions, the list suggestions are
// drawn from, in step with the options parseOption takes.
func TestRedisOptionsMatchSwitch(t *testing.T) {
	values := map[string]string{"address": "a:1", "index_key": "k", "name": "n", "password": "p", "prefix": "x:",
		"timeout": "1s", "tls": "", "ttl": "1h", "url": "redis://a:1", "username": "u", "sentinel": "s:26379", "master_name": "m", "cluster": "c:7000"}
	if strings.Join(optionNames(values), ",") != strings.Join(redisOptions, ",") {
		t.Fatalf("redisOptions %v, the test knows %v", redisOptions, optionNames(values))
	}
	for opt, v := range values {
		var r RedisStore
		d := caddyfile.NewTestDispenser("redis {\n" + opt + " " + v + "\n}")
		d.Next()
		for d.NextBlock(0) {
			if err := r.parseOption(d, d.Val()); err != nil {
				t.Errorf("%s: %v", opt, err)
			}
		}
		if b, _ := json.Marshal(r); string(b) == "{}" {
			t.Errorf("%s: accepted but set nothing", opt)
		}
	}
}

// redisSite is the shop and the operator site on one Redis store.
func redisSite(addr, prefix, extra, body string) string {
	return storeSiteConfig(fmt.Sprintf("\t\tstore redis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t\tindex_key %s\n\t\t\ttimeout 2s\n%s\t\t}",
		addr, prefix, testIndexKey, extra), "", body)
}

// pooledRedisClients lists the Redis clients in the pool.
func pooledRedisClients() []cache.Store {
	var out []cache.Store
	for _, s := range pooledStores() {
		if g, ok := s.store.(*guardedStore); ok {
			out = append(out, g.Store)
		}
	}
	return out
}

// TestRedisStoreThroughCaddy: a collect through a real Caddy lands in
// Redis (read back by a client of our own), the API and the admin endpoint
// read it, a reload keeps the client, and a changed setting gets a new one
// while the sessions stay in Redis.
func TestRedisStoreThroughCaddy(t *testing.T) {
	addr := redisAddr(t)
	prefix := testRedisPrefix()
	tester := newTester(t)
	tester.InitServer(redisSite(addr, prefix, "", "redis shop"), "caddyfile")

	s := collect(t, tester, cartBody)
	if code, got := apiGet(t, tester, s.ID); code != 200 || got.Version != 1 || len(got.Cart.Items) != 1 {
		t.Fatalf("API GET: %d %+v", code, got)
	}
	direct, err := cache.NewRedis(context.Background(), cache.RedisConfig{Addresses: []string{addr}, Prefix: prefix,
		HashKey: []byte(testIndexKey), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	defer direct.Delete(context.Background(), s.ID)
	if got, err := direct.Get(context.Background(), s.ID); err != nil || got.Version != 1 || len(got.Cart.Items) != 1 {
		t.Fatalf("session not in Redis under %s: %v %+v", prefix, err, got)
	}

	// An earlier test's outbox lets go of its client once it has closed,
	// in the background.
	waitFor(t, "one Redis client pooled", func() bool { return len(pooledRedisClients()) == 1 })
	clients := pooledRedisClients()
	_, stats := do(t, tester, "GET", "http://localhost:2999/sessiontap/stats", "")
	if !strings.Contains(stats, `{"name":"redis","entries":-1,"bytes":-1,`) {
		t.Errorf("admin stats do not show the redis store: %s", stats)
	}
	// The one store in use is found without naming it.
	for _, q := range []string{"?store=redis", ""} {
		if res, body := do(t, tester, "GET", "http://localhost:2999/sessiontap/sessions/"+s.ID+q, ""); res.StatusCode != 200 || !strings.Contains(body, "181503") {
			t.Errorf("admin session%s: %d %s", q, res.StatusCode, body)
		}
	}
	if res, metrics := do(t, tester, "GET", "http://localhost:2999/metrics", ""); res.StatusCode != 200 || strings.Contains(metrics, `caddy_sessiontap_store_entries{store="redis"}`) {
		t.Errorf("metrics: %d, or an unknown entries figure exported", res.StatusCode)
	}

	// Same store settings: the same client, the same session.
	tester.InitServer(redisSite(addr, prefix, "", "after reload"), "caddyfile")
	if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != "after reload" {
		t.Fatalf("new config not active: %q", body)
	}
	if after := pooledRedisClients(); len(after) != 1 || after[0] != clients[0] {
		t.Errorf("reload replaced the client: %v, was %v", after, clients)
	}
	if code, got := apiGet(t, tester, s.ID); code != 200 || got.Version != 1 {
		t.Errorf("after reload: %d %+v", code, got)
	}

	// A changed ttl needs a new client; the old one is released, and the
	// session, being in Redis, is still there.
	tester.InitServer(redisSite(addr, prefix, "\t\t\tttl 2h\n", "new ttl"), "caddyfile")
	if after := pooledRedisClients(); len(after) != 1 || after[0] == clients[0] {
		t.Errorf("changed ttl: clients %v, was %v", after, clients)
	}
	if again := collect(t, tester, `{"cart":{}}`); again.ID != s.ID || again.Version != 2 {
		t.Errorf("write after the new client: %+v", again)
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestRedisUnreachableRefused: a store that cannot connect fails
// provisioning with the address in the error and no credential in it, and
// Caddy refuses such a config through its admin API.
func TestRedisUnreachableRefused(t *testing.T) {
	addr := closedPort(t)
	const password, user = "s3cret-Pa55word", "acl-user-x"
	t.Setenv("SESSIONTAP_TEST_REDIS_PW", password)
	stores := []*RedisStore{
		{Addresses: []string{addr}, Username: user, Password: "{env.SESSIONTAP_TEST_REDIS_PW}", IndexKey: testIndexKey},
		{URL: "redis://" + user + ":" + password + "@" + addr + "/0", IndexKey: testIndexKey},
		{URL: "rediss://" + user + ":" + password + "@" + addr, IndexKey: testIndexKey, TLS: &RedisTLS{}},
	}
	for i, r := range stores {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := r.Provision(ctx)
		if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), password) || strings.Contains(err.Error(), user) {
			t.Errorf("store %d: error %v, want one naming %s without credentials", i, err, addr)
		}
		if err := r.Cleanup(); err != nil { // after a failed Provision
			t.Errorf("store %d: Cleanup: %v", i, err)
		}
		cancel()
	}

	// The same through Caddy: the new config is refused, the error shown
	// to the operator names the address and not the password.
	tester := newTester(t)
	tester.InitServer(siteConfig("", "running"), "caddyfile")
	bad := storeSiteConfig("\t\tstore redis {\n\t\t\turl redis://"+user+":"+password+"@"+addr+"\n\t\t\tindex_key "+testIndexKey+"\n\t\t}", "", "bad")
	res, body := do(t, tester, "POST", "http://localhost:2999/load", bad, "Content-Type", "text/caddyfile")
	if res.StatusCode < 400 || !strings.Contains(body, addr) || strings.Contains(body, password) || strings.Contains(body, user) {
		t.Errorf("load: %d %s", res.StatusCode, body)
	}
	if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != "running" {
		t.Errorf("the running config was replaced: %q", body)
	}
}

// TestRedisProvisionSecrets: placeholders are replaced, and an empty or
// short secret is a clear error before any connection is tried.
func TestRedisProvisionSecrets(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	t.Setenv("SESSIONTAP_TEST_EMPTY", "")
	cases := []struct {
		r    RedisStore
		want string
	}{
		{RedisStore{Addresses: []string{"a:1"}, IndexKey: "{env.SESSIONTAP_TEST_EMPTY}"}, `index_key "{env.SESSIONTAP_TEST_EMPTY}" is empty after replacing placeholders (is SESSIONTAP_TEST_EMPTY set?)`},
		{RedisStore{Addresses: []string{"a:1"}, IndexKey: "short"}, "index_key must be at least 16 bytes, got 5"},
		{RedisStore{Addresses: []string{"a:1"}, IndexKey: testIndexKey, Password: "{env.SESSIONTAP_TEST_EMPTY}"}, "password"},
		{RedisStore{URL: "http://x:1", IndexKey: testIndexKey}, "scheme must be redis or rediss"},
		{RedisStore{URL: "redis://u:pw-secret@x:1/3", IndexKey: testIndexKey}, `database "3": only database 0 is supported`},
		{RedisStore{URL: "redis://u:pw-secret@x:1", Password: "p", IndexKey: testIndexKey}, "credentials both in the url and in username/password"},
		{RedisStore{URL: "redis://u:pw-secret@x:1?timeout=1", IndexKey: testIndexKey}, "redis://x:1: query parameters are not supported"},
	}
	for _, tc := range cases {
		err := tc.r.Provision(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("%+v: error %v, want %q", tc.r, err, tc.want)
		}
		_ = tc.r.Cleanup()
	}
}

// redisStoreBlock is a sessiontap store block on the test server under a
// fresh prefix, and the prefix.
func redisStoreBlock(t *testing.T) (block, prefix string) {
	prefix = testRedisPrefix()
	return fmt.Sprintf("\t\tstore redis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t\tindex_key %s\n\t\t\ttimeout 2s\n\t\t}",
		redisAddr(t), prefix, testIndexKey), prefix
}

// clusterStoreBlock is a Redis store on the test cluster, with a prefix
// of its own.
func clusterStoreBlock(t *testing.T) (block, prefix string) {
	prefix = testRedisPrefix()
	return fmt.Sprintf("\t\tstore redis {\n\t\t\tcluster %s\n\t\t\tprefix %s\n\t\t\tindex_key %s\n\t\t\ttimeout 2s\n\t\t}",
		strings.Join(redistest.ClusterAddrs(t), " "), prefix, testIndexKey), prefix
}

// primariesOf are clients on the servers a store block writes to: the
// standalone server, or each primary of the test cluster.
func primariesOf(t *testing.T, block string) []rueidis.Client {
	t.Helper()
	if !strings.Contains(block, "cluster ") {
		return []rueidis.Client{redistest.Client(t)}
	}
	var out []rueidis.Client
	for _, node := range redistest.ClusterClient(t).Nodes() {
		role, err := node.Do(context.Background(), node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatal(err)
		}
		if r, _ := role[0].ToString(); r == "master" {
			out = append(out, node)
		}
	}
	return out
}

// eachStore runs test once with the bigcache store (an empty block) and
// once with a Redis store, and once on a Redis Cluster, as subtests named
// after them.
func eachStore(t *testing.T, test func(t *testing.T, block, prefix string)) {
	t.Run("bigcache", func(t *testing.T) { test(t, "", "") })
	t.Run("redis", func(t *testing.T) {
		block, prefix := redisStoreBlock(t)
		test(t, block, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		block, prefix := clusterStoreBlock(t)
		test(t, block, prefix)
	})
}

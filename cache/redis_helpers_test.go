package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// The Redis tests run against a real redis-server at SESSIONTAP_REDIS_ADDR
// (host:port); scripts/test starts one.
const redisAddrEnv = redistest.AddrEnv

var testHashKey = []byte("sessiontap-test-hmac-key-0123456")

// redisAddr is the test server's address (see redistest.Addr).
func redisAddr(t testing.TB) string { return redistest.Addr(t) }

// testPrefix is a prefix of this test's own, so tests never see each
// other's keys even on a shared server.
func testPrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return "sessiontap-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// newRedisStore makes a store on the test server, with a fresh prefix
// unless cfg has one, and removes its keys at the end of the test.
func newRedisStore(t testing.TB, cfg RedisConfig) *Redis {
	t.Helper()
	cfg.Addresses = []string{redisAddr(t)}
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix(t)
		t.Cleanup(func() { deletePrefix(t, cfg.Prefix) })
	}
	if cfg.HashKey == nil {
		cfg.HashKey = testHashKey
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second // generous: the race detector and a busy CI machine
	}
	r, err := NewRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rawRedis is a plain client on the test server, to look behind the store.
func rawRedis(t testing.TB) rueidis.Client { return redistest.Client(t) }

func deletePrefix(t testing.TB, prefix string) {
	c := rawRedis(t)
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(globEscape(prefix)+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Error(err)
			return
		}
		if len(e.Elements) > 0 {
			c.Do(ctx, c.B().Del().Key(e.Elements...).Build())
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

var scanCalls = regexp.MustCompile(`(?m)^cmdstat_scan:calls=(\d+)`)

// serverScans is how many SCANs the server (every node of a cluster) has
// run since it started.
func serverScans(t testing.TB, c rueidis.Client) int {
	t.Helper()
	total := 0
	for _, node := range c.Nodes() {
		info, err := node.Do(context.Background(), node.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		if m := scanCalls.FindStringSubmatch(info); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// newClusterStore makes a store on the test Redis Cluster, with a fresh
// prefix unless cfg has one, whose keys are removed at the end of the test.
func newClusterStore(t testing.TB, cfg RedisConfig) *Redis {
	t.Helper()
	cfg.Addresses = redistest.ClusterAddrs(t)
	if cfg.Prefix == "" {
		cfg.Prefix = redistest.ClusterPrefix(t)
	}
	if cfg.HashKey == nil {
		cfg.HashKey = testHashKey
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	r, err := NewRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Cluster() {
		t.Fatal("the store did not see a Redis Cluster")
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// clusterRaw is a plain client on the test cluster.
func clusterRaw(t testing.TB) rueidis.Client { return redistest.ClusterClient(t) }

// Package redistest gives tests the real redis-server that scripts/test
// starts (SESSIONTAP_REDIS_ADDR), each test under a key prefix of its own.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/redis/rueidis"
)

// AddrEnv names the variable holding the test server's host:port.
const AddrEnv = "SESSIONTAP_REDIS_ADDR"

// Addr is the test server's address. Without one the test is skipped,
// except under CI, where a missing server is a failure.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(AddrEnv)
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(AddrEnv + " is not set, and CI must run the Redis tests: run them with scripts/test, which starts a redis-server")
		}
		t.Skip(AddrEnv + " is not set: run scripts/test (it starts a redis-server), or set it to a test server's host:port")
	}
	return addr
}

// Client is a client on the test server, closed at the end of the test.
func Client(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{Addr(t)}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Prefix is a key prefix of this test's own, whose keys are deleted at
// the end of the test.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_", "*", "_", "?", "_", "[", "_", "]", "_").Replace(t.Name())
	p := "sessiontap-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { DeletePrefix(t, p) })
	return p
}

// DeletePrefix deletes every key starting with prefix (which must hold no
// glob characters).
func DeletePrefix(t testing.TB, prefix string) {
	t.Helper()
	c := Client(t)
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
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

// ClusterEnv names the variable holding the test Redis Cluster's seed
// addresses, comma-separated.
const ClusterEnv = "SESSIONTAP_REDIS_CLUSTER"

// ClusterAddrs are the test cluster's seed addresses. Without them the
// test is skipped, except under CI, where a missing cluster is a failure.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(ClusterEnv)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(ClusterEnv + " is not set, and CI must run the Redis Cluster tests: run them with scripts/test, which starts a cluster")
		}
		t.Skip(ClusterEnv + " is not set: run scripts/test (it starts a Redis Cluster), or set it to a test cluster's seed addresses")
	}
	return strings.Split(v, ",")
}

// ClusterClient is a client on the test cluster, closed at the end of
// the test.
func ClusterClient(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: ClusterAddrs(t), DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode() != rueidis.ClientModeCluster {
		c.Close()
		t.Fatalf("%s names no Redis Cluster", ClusterEnv)
	}
	t.Cleanup(c.Close)
	return c
}

// ClusterPrefix is a key prefix of this test's own on the test cluster,
// whose keys (on every primary) are deleted at the end of the test.
func ClusterPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "sessiontap-test:" + strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + ":" + hex.EncodeToString(b[:]) + ":"
	p = strings.Map(func(r rune) rune {
		if strings.ContainsRune("*?[]{}", r) {
			return '_'
		}
		return r
	}, p)
	t.Cleanup(func() {
		c := ClusterClient(t)
		for _, node := range c.Nodes() {
			deleteOn(t, node, p)
		}
	})
	return p
}

// deleteOn deletes prefix's keys on one node (a replica refuses, harmlessly).
func deleteOn(t testing.TB, c rueidis.Client, prefix string) {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return
		}
		for _, k := range e.Elements {
			c.Do(ctx, c.B().Del().Key(k).Build())
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

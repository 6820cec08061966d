package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestRedisContract(t *testing.T) {
	redisAddr(t)
	testStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return newRedisStore(t, RedisConfig{Now: now})
	})
}

// The same contract on a Redis Cluster: three primaries, each with a
// replica.
func TestRedisClusterContract(t *testing.T) {
	redistest.ClusterAddrs(t)
	testStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return newClusterStore(t, RedisConfig{Now: now})
	})
}

// Two nodes writing one session at once lose nothing: the striped lock
// orders each node's writers, the compare-and-set the two nodes.

func TestRedisTwoNodes(t *testing.T) {
	a := newRedisStore(t, RedisConfig{})
	b := newRedisStore(t, RedisConfig{Prefix: a.Config().Prefix})
	ctx := context.Background()
	const each = 500
	var wg sync.WaitGroup
	for n, node := range []*Redis{a, b} {
		for i := range each {
			wg.Go(func() {
				if _, err := node.Update(ctx, "hot", addItem(fmt.Sprintf("%d-%d", n, i))); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for _, node := range []*Redis{a, b} {
		s, err := node.Get(ctx, "hot")
		if err != nil {
			t.Fatal(err)
		}
		checkAllItems(t, s, 2*each)
	}
	t.Logf("compare-and-set conflicts: %d and %d", a.conflicts.Load(), b.conflicts.Load())
}

// Stores with different prefixes share nothing, even when one prefix is a
// glob pattern matching the other's keys.
func TestRedisPrefixIsolation(t *testing.T) {
	base := testPrefix(t)
	t.Cleanup(func() { deletePrefix(t, base) })
	a := newRedisStore(t, RedisConfig{Prefix: base + "ab:"})
	b := newRedisStore(t, RedisConfig{Prefix: base + "a?:"})
	c := newRedisStore(t, RedisConfig{Prefix: base + "a*"})
	ctx := context.Background()
	linked := func(s *model.Session) error { s.Customer.CustomerReference = "c-1"; return nil }
	if _, err := a.Update(ctx, "x", linked); err != nil {
		t.Fatal(err)
	}
	for _, other := range []*Redis{b, c} {
		if _, err := other.Get(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get = %v", other.Config().Prefix, err)
		}
		if got, err := other.Linked(ctx, "c-1"); err != nil || len(got) != 0 {
			t.Errorf("%s: Linked = %v, %v", other.Config().Prefix, got, err)
		}
		n := 0
		if err := other.Range(ctx, func(*model.Session) bool { n++; return true }); err != nil || n != 0 {
			t.Errorf("%s: Range saw %d, %v", other.Config().Prefix, n, err)
		}
		if err := other.Delete(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Delete = %v", other.Config().Prefix, err)
		}
	}
	if s, err := b.Update(ctx, "x", addItem("p")); err != nil || s.Version != 1 {
		t.Fatalf("b's own x: %+v, %v", s, err)
	}
	if s, err := a.Get(ctx, "x"); err != nil || s.Version != 1 || len(s.Cart.Items) != 0 {
		t.Errorf("a's x after b wrote its own: %+v, %v", s, err)
	}
}

// TTL is Redis's own expiry, renewed by every write, index sets included.
func TestRedisTTL(t *testing.T) {
	const ttl = 200 * time.Millisecond
	r := newRedisStore(t, RedisConfig{TTL: ttl})
	raw := rawRedis(t)
	ctx := context.Background()
	linked := func(s *model.Session) error { s.Customer.CustomerReference = "c-1"; return addItem("p")(s) }
	if _, err := r.Update(ctx, "a", linked); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{r.sessionKey("a"), r.indexKey("c-1", shardTag("a"))} {
		pttl, err := raw.Do(ctx, raw.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil || pttl <= 0 || pttl > ttl.Milliseconds() {
			t.Errorf("PTTL = %d, %v; want in (0, %d]", pttl, err, ttl.Milliseconds())
		}
	}
	time.Sleep(ttl * 6 / 10)
	if _, err := r.Update(ctx, "a", linked); err != nil { // renews
		t.Fatal(err)
	}
	time.Sleep(ttl * 6 / 10)
	if s, err := r.Get(ctx, "a"); err != nil || s.Version != 2 {
		t.Fatalf("write did not renew: %+v, %v", s, err)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if _, err := r.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after TTL = %v, want ErrNotFound", err)
	}
	if err := r.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete after TTL = %v, want ErrNotFound", err)
	}
	if got, err := r.Linked(ctx, "c-1"); err != nil || len(got) != 0 {
		t.Fatalf("Linked after TTL = %v, %v", got, err)
	}
	if s, err := r.Update(ctx, "a", addItem("q")); err != nil || s.Version != 1 || len(s.Cart.Items) != 1 {
		t.Fatalf("update after expiry: %+v, %v", s, err)
	}
}

// The customer index: kept by writes from any node, emptied by Delete and
// by writes that drop a link, cleaned of dead members by Linked, hashed so
// no key names a reference, and read without a SCAN.
func TestRedisIndex(t *testing.T) { testIndex(t, newRedisStore, rawRedis(t)) }

// On a Redis Cluster, where a customer's sessions live in many slots.
func TestRedisClusterIndex(t *testing.T) { testIndex(t, newClusterStore, clusterRaw(t)) }

func testIndex(t *testing.T, newStore func(testing.TB, RedisConfig) *Redis, raw rueidis.Client) {
	a := newStore(t, RedisConfig{})
	b := newStore(t, RedisConfig{Prefix: a.Config().Prefix})
	ctx := context.Background()
	must(t)(a.Update(ctx, "s1", customer("c-1")))
	must(t)(b.Update(ctx, "s2", func(s *model.Session) error {
		s.Orders = []model.Order{{OrderNumber: "o-1", Buyer: model.Customer{CustomerReference: "c-1"}}}
		return nil
	}))
	must(t)(a.Update(ctx, "s3", customer("c-2")))
	ids := func(r *Redis) string { return linkedIDs(t, r, "c-1") }
	members := func() string { return indexMembers(t, raw, a, "c-1") }
	scans := serverScans(t, raw)
	for _, r := range []*Redis{a, b} {
		if got := ids(r); got != "[s1 s2]" {
			t.Errorf("Linked(c-1) = %s, want [s1 s2]", got)
		}
	}
	if n := serverScans(t, raw); n != scans {
		t.Errorf("Linked ran %d SCANs", n-scans)
	}
	if got := members(); got != "[s1 s2]" {
		t.Errorf("index members %s", got)
	}
	checkNoPlainRefs(t, raw, a)

	if err := a.Delete(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	if got, m := ids(b), members(); got != "[s1]" || m != "[s1]" {
		t.Errorf("after Delete: Linked %s, members %s", got, m)
	}
	must(t)(b.Update(ctx, "s1", customer("c-9"))) // drops the link
	if n := indexSets(t, raw, a, "c-1"); n != 0 {
		t.Errorf("%d index sets still there after the last link went", n)
	}
}

// Linked skips and drops dead index members, as eviction or a deleted key
// leaves them: a session gone, and one re-created without the link.
func TestRedisIndexDeadMembers(t *testing.T) {
	a := newRedisStore(t, RedisConfig{})
	raw := rawRedis(t)
	ctx := context.Background()
	must(t)(a.Update(ctx, "s4", customer("c-1")))
	must(t)(a.Update(ctx, "s5", customer("c-1")))
	must(t)(a.Update(ctx, "s6", customer("c-1")))
	raw.Do(ctx, raw.B().Del().Key(a.sessionKey("s4"), a.sessionKey("s5")).Build())
	must(t)(a.Update(ctx, "s5", addItem("p")))
	if m := indexMembers(t, raw, a, "c-1"); m != "[s4 s5 s6]" {
		t.Fatalf("members before Linked: %s", m)
	}
	if got, m := linkedIDs(t, a, "c-1"), indexMembers(t, raw, a, "c-1"); got != "[s6]" || m != "[s6]" {
		t.Errorf("dead members: Linked %s, members %s after", got, m)
	}
}

func customer(ref string) UpdateFunc {
	return func(s *model.Session) error { s.Customer.CustomerReference = ref; return nil }
}

// must fails the test on an Update's error.
func must(t *testing.T) func(*model.Session, error) {
	return func(_ *model.Session, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// linkedIDs is the sorted ids of Linked(ref).
func linkedIDs(t *testing.T, r *Redis, ref string) string {
	t.Helper()
	got, err := r.Linked(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return fmt.Sprint(ids)
}

// indexMembers is the sorted members of ref's index sets (every tag's
// and the untagged one), read directly.
func indexMembers(t *testing.T, raw rueidis.Client, r *Redis, ref string) string {
	t.Helper()
	var m []string
	for _, res := range raw.DoMulti(context.Background(), indexCmds(raw, r, ref, "SMEMBERS")...) {
		ids, err := res.AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, ids...)
	}
	slices.Sort(m)
	return fmt.Sprint(m)
}

// indexSets counts ref's index sets that exist.
func indexSets(t *testing.T, raw rueidis.Client, r *Redis, ref string) int64 {
	t.Helper()
	var n int64
	for _, res := range raw.DoMulti(context.Background(), indexCmds(raw, r, ref, "EXISTS")...) {
		e, err := res.AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		n += e
	}
	return n
}

func indexCmds(raw rueidis.Client, r *Redis, ref, cmd string) rueidis.Commands {
	keys := []string{r.legacyIndexKey(ref)}
	for i := range keyShards {
		keys = append(keys, r.indexKey(ref, keytag.Tag(i)))
	}
	var out rueidis.Commands
	for _, k := range keys {
		out = append(out, raw.B().Arbitrary(cmd).Keys(k).Build())
	}
	return out
}

// checkNoPlainRefs checks that no key of the store names a customer
// reference used in TestRedisIndex.
func checkNoPlainRefs(t *testing.T, raw rueidis.Client, r *Redis) {
	var keys []string
	for _, node := range raw.Nodes() {
		k, err := node.Do(context.Background(), node.B().Keys().Pattern(globEscape(r.Config().Prefix)+"*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	for _, k := range keys {
		if strings.Contains(k, "c-") {
			t.Errorf("key %q names a customer reference", k)
		}
	}
	if len(keys) == 0 {
		t.Error("no keys")
	}
}

func TestRedisStats(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	ctx := context.Background()
	r.Get(ctx, "a")                  // miss
	r.Update(ctx, "a", addItem("p")) // miss (read), write
	r.Get(ctx, "a")                  // hit
	if st := r.Stats(); st.Entries != -1 || st.Bytes != -1 || st.Hits != 1 || st.Misses != 2 {
		t.Errorf("stats %+v", st)
	}
	if c := r.Config(); c.TTL != DefaultTTL || c.Now == nil || !strings.HasPrefix(c.Prefix, "sessiontap-test:") {
		t.Errorf("effective config %+v", c)
	}
}

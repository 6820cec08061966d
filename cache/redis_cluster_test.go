package cache

import (
	"context"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Range walks every primary of a cluster: sessions spread over all three
// are all seen, once each.
func TestRedisClusterRangeSeesEveryPrimary(t *testing.T) {
	r := newClusterStore(t, RedisConfig{})
	ctx := context.Background()
	const n = 200
	for i := range n {
		must(t)(r.Update(ctx, "range-"+itoa(int64(i)), addItem("p")))
	}
	seen := map[string]int{}
	if err := r.Range(ctx, func(s *model.Session) bool { seen[s.ID]++; return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Errorf("Range saw %d sessions, want %d", len(seen), n)
	}
	primaries, err := r.primaries(ctx)
	if err != nil || len(primaries) != 3 {
		t.Fatalf("primaries: %d, %v", len(primaries), err)
	}
	for i, p := range primaries {
		keys, err := p.Do(ctx, p.B().Keys().Pattern(globEscape(r.cfg.Prefix)+"s:*").Build()).AsStrSlice()
		if err != nil || len(keys) == 0 {
			t.Errorf("primary %d holds %d of the sessions (%v): the tags do not spread them", i, len(keys), err)
		}
	}
}

// The write log works slot by slot: a write marked on a cluster is found
// by Unrelayed and cleared by Relayed.
func TestRedisClusterWriteLog(t *testing.T) {
	r := newClusterStore(t, RedisConfig{})
	ctx := WithRelay(context.Background(), "log1")
	var ids []string
	for i := range 20 {
		id := "logged-" + itoa(int64(i))
		must(t)(r.Update(ctx, id, addItem("p")))
		ids = append(ids, id)
	}
	got, err := r.Unrelayed(context.Background(), "log1", 0, 100)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("Unrelayed: %d entries, %v; want %d", len(got), err, len(ids))
	}
	for _, u := range got {
		if err := r.Relayed(context.Background(), "log1", u.ID, u.Last); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := r.Unrelayed(context.Background(), "log1", 0, 100); err != nil || len(got) != 0 {
		t.Errorf("after Relayed: %d entries, %v", len(got), err)
	}
}

// A brace in the prefix would make it the hash tag of every key: one slot
// would carry the fleet. Refused, saying so.
func TestRedisClusterRefusesABraceInThePrefix(t *testing.T) {
	_, err := NewRedis(context.Background(), RedisConfig{Addresses: redistest.ClusterAddrs(t), HashKey: testHashKey, Prefix: "shop{1}:"})
	if err == nil || !strings.Contains(err.Error(), "brace") {
		t.Fatalf("NewRedis with prefix shop{1}: = %v, want a refusal naming the brace", err)
	}
}

// Sessions linked by versions before the tagged index sit in one
// untagged set per customer: a standalone store still finds them, and a
// delete takes them out of it.
func TestRedisLegacyIndexReadAndCleaned(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	raw := rawRedis(t)
	ctx := context.Background()
	must(t)(r.Update(ctx, "old-1", customer("c-7")))
	// As the earlier version left it: the id in the untagged set only.
	raw.Do(ctx, raw.B().Del().Key(r.indexKey("c-7", shardTag("old-1"))).Build())
	raw.Do(ctx, raw.B().Sadd().Key(r.legacyIndexKey("c-7")).Member("old-1").Build())
	if got := linkedIDs(t, r, "c-7"); got != "[old-1]" {
		t.Fatalf("Linked(c-7) = %s, want [old-1] from the untagged set", got)
	}
	if err := r.Delete(ctx, "old-1"); err != nil {
		t.Fatal(err)
	}
	if m := indexMembers(t, raw, r, "c-7"); m != "[]" {
		t.Errorf("after Delete the index still lists %s", m)
	}
}

// A standalone server named as a cluster is refused, saying what to write.
func TestRedisClusterOptionRefusesAStandaloneServer(t *testing.T) {
	_, err := NewRedis(context.Background(), RedisConfig{Addresses: []string{redisAddr(t)}, Cluster: true, HashKey: testHashKey})
	if err == nil || !strings.Contains(err.Error(), "not a Redis Cluster") || !strings.Contains(err.Error(), "address") {
		t.Fatalf("NewRedis of a standalone server as a cluster = %v, want a refusal naming address", err)
	}
}

package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// unrelayed is every entry of log name, whatever its age.
func unrelayed(t *testing.T, r *Redis, name string) string {
	t.Helper()
	us, err := r.Unrelayed(context.Background(), name, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(us)
}

// A write made with WithRelay is in its log from the script that stores
// it until Relayed says its last version is relayed; a write made since a
// relay stays, from the next version on; writes without it never enter.
func TestRedisWriteLog(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	ctx := context.Background()
	logged := WithRelay(ctx, "cfg1")
	must(t)(r.Update(ctx, "plain", addItem("p")))
	must(t)(r.Update(logged, "a", addItem("p")))
	must(t)(r.Update(logged, "a", addItem("q")))
	if got := unrelayed(t, r, "cfg1"); got != "[{a 1 2}]" {
		t.Fatalf("log after two writes: %s", got)
	}
	if got := unrelayed(t, r, "other"); got != "[]" {
		t.Errorf("another log has %s", got)
	}
	// Taken entries are hidden for the age given.
	if us, err := r.Unrelayed(ctx, "cfg1", time.Hour, 100); err != nil || len(us) != 0 {
		t.Errorf("an entry just taken was taken again: %v %v", us, err)
	}
	if err := r.Relayed(ctx, "cfg1", "a", 1); err != nil {
		t.Fatal(err)
	}
	if got := unrelayed(t, r, "cfg1"); got != "[{a 2 2}]" {
		t.Errorf("after relaying v1: %s", got)
	}
	must(t)(r.Update(logged, "a", addItem("r")))
	if err := r.Relayed(ctx, "cfg1", "a", 3); err != nil {
		t.Fatal(err)
	}
	if got := unrelayed(t, r, "cfg1"); got != "[]" {
		t.Errorf("after relaying v3: %s", got)
	}
}

// The write log is marked by the script that stores the write: a write
// whose reply never came is in it exactly when it was stored.
func TestRedisWriteLogIsAtomic(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	ctx := WithRelay(context.Background(), "cfg1")
	// A function that fails leaves neither the session nor an entry.
	_, err := r.Update(ctx, "b", func(*model.Session) error { return errors.New("no") })
	if err == nil {
		t.Fatal("the failing update succeeded")
	}
	if got := unrelayed(t, r, "cfg1"); got != "[]" {
		t.Errorf("a write that was not stored is logged: %s", got)
	}
	s, err := r.Update(ctx, "b", addItem("p"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(context.Background(), "b")
	if err != nil || got.Version != s.Version {
		t.Fatalf("stored: %v %v", got, err)
	}
	if log := unrelayed(t, r, "cfg1"); log != fmt.Sprintf("[{b %d %d}]", s.Version, s.Version) {
		t.Errorf("log %s for the stored v%d", log, s.Version)
	}
}

// A session an earlier version stored under its untagged key is read
// from there, moved by its next write (the untagged key is gone), found
// through the customer index and deleted.
func TestRedisUntaggedSessionsMove(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	raw := rawRedis(t)
	ctx := context.Background()
	s, err := r.Update(ctx, "old", customer("c-1"))
	if err != nil {
		t.Fatal(err)
	}
	// As an earlier version left it.
	enc := s.AppendBinary(nil)
	raw.Do(ctx, raw.B().Del().Key(r.sessionKey("old")).Build())
	if err := raw.Do(ctx, raw.B().Set().Key(r.legacyKey("old")).Value(string(enc)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(ctx, "old"); err != nil || got.Version != s.Version {
		t.Fatalf("Get of an untagged session: %v %v", got, err)
	}
	if got := linkedIDs(t, r, "c-1"); got != "[old]" {
		t.Errorf("Linked of an untagged session: %s", got)
	}
	moved, err := r.Update(ctx, "old", addItem("p"))
	if err != nil {
		t.Fatal(err)
	}
	if moved.Version != s.Version+1 || len(moved.Cart.Items) != 1 || moved.Customer.CustomerReference != "c-1" {
		t.Errorf("moved session %+v", moved)
	}
	if n, _ := raw.Do(ctx, raw.B().Exists().Key(r.legacyKey("old")).Build()).AsInt64(); n != 0 {
		t.Error("the untagged key is still there after the move")
	}
	if err := raw.Do(ctx, raw.B().Set().Key(r.legacyKey("gone")).Value(string(enc)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "gone"); err != nil {
		t.Fatalf("Delete of an untagged session: %v", err)
	}
	if _, err := r.Get(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Delete: %v", err)
	}
}

// Once one TTL has passed since the tagged layout began, no untagged
// session can live: reads stop looking.
func TestRedisLayoutWindowEnds(t *testing.T) {
	cfg := RedisConfig{TTL: 300 * time.Millisecond}
	r := newRedisStore(t, cfg)
	if !r.layout.migrating() {
		t.Fatal("a new prefix starts outside its migration window")
	}
	cfg.Prefix = r.cfg.Prefix
	time.Sleep(400 * time.Millisecond)
	again := newRedisStore(t, cfg) // a node started later: the layout began before
	if again.layout.migrating() {
		t.Error("a node started after the window still reads untagged keys")
	}
}

// Every key of one session carries its hash tag, so that one script may
// touch them all on Redis Cluster too; other sessions spread over the
// 64 tags.
func TestRedisSessionKeysShareTheirTag(t *testing.T) {
	r := &Redis{cfg: RedisConfig{Prefix: "p:"}}
	tag := func(key string) string {
		_, rest, _ := strings.Cut(key, "{")
		inside, _, _ := strings.Cut(rest, "}")
		return inside
	}
	tags := map[string]bool{}
	for i := range 2000 {
		id := fmt.Sprintf("session-%d", i)
		w, v := r.relayKeys("cfg", shardTag(id))
		keys := []string{r.sessionKey(id), w, v, r.turnKey(id)}
		for _, k := range keys[1:] {
			if tag(k) != tag(keys[0]) || tag(k) == "" {
				t.Fatalf("%s: keys %v do not share one tag", id, keys)
			}
		}
		tags[tag(keys[0])] = true
	}
	if len(tags) != keyShards {
		t.Errorf("2,000 sessions used %d tags, want all %d", len(tags), keyShards)
	}
}

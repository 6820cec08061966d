package cache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func newTestStore(t testing.TB, cfg BigcacheConfig) *Bigcache {
	t.Helper()
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 8 << 20
	}
	b, err := NewBigcache(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBigcacheExactExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newTestStore(t, BigcacheConfig{TTL: time.Hour, Now: clk.Now})
	ctx := context.Background()
	if _, err := b.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour - time.Nanosecond)
	if _, err := b.Get(ctx, "a"); err != nil {
		t.Fatalf("expired early: %v", err)
	}
	if _, err := b.Update(ctx, "a", addItem("q")); err != nil { // renews
		t.Fatal(err)
	}
	clk.Advance(time.Hour - time.Nanosecond)
	if s, err := b.Get(ctx, "a"); err != nil || s.Version != 2 {
		t.Fatalf("write did not renew: %+v, %v", s, err)
	}
	clk.Advance(time.Nanosecond)
	if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after TTL = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete after TTL = %v, want ErrNotFound", err)
	}
	// An expired session is gone: the next write starts a new one.
	if _, err := b.Update(ctx, "b", addItem("p")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	s, err := b.Update(ctx, "b", addItem("q"))
	if err != nil || s.Version != 1 || len(s.Cart.Items) != 1 || !s.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("update after expiry: %+v, %v", s, err)
	}
}

func TestBigcacheMaxSizeIsHardCap(t *testing.T) {
	const maxSize = 2 << 20
	b := newTestStore(t, BigcacheConfig{MaxSize: maxSize})
	ctx := context.Background()
	name := strings.Repeat("n", 1000)
	fill := func(s *model.Session) error {
		for i := range 3 {
			s.Cart.Items = append(s.Cart.Items, model.CartItem{ProductID: fmt.Sprint(i), Name: name, Quantity: 1})
		}
		return nil
	}
	const n = 20_000
	for i := range n {
		if _, err := b.Update(ctx, fmt.Sprintf("s%d", i), fill); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if st := b.Stats(); st.Bytes > maxSize {
				t.Fatalf("after %d writes Bytes = %d > %d", i, st.Bytes, maxSize)
			}
		}
	}
	st := b.Stats()
	if st.Bytes > maxSize || st.Evictions == 0 || st.Entries == 0 {
		t.Fatalf("stats %+v", st)
	}
	if int64(st.Entries)+st.Evictions != n {
		t.Errorf("entries %d + evictions %d != %d writes", st.Entries, st.Evictions, n)
	}
	if s, err := b.Get(ctx, fmt.Sprintf("s%d", n-1)); err != nil || len(s.Cart.Items) != 3 {
		t.Fatalf("newest session: %+v, %v", s, err)
	}
	if _, err := b.Get(ctx, "s0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest session not evicted: %v", err)
	}
}

func TestBigcacheTooLarge(t *testing.T) {
	b := newTestStore(t, BigcacheConfig{MaxSize: 1 << 20})
	ctx := context.Background()
	if _, err := b.Update(ctx, "small", addItem("p")); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 600<<10)
	_, err := b.Update(ctx, "big", func(s *model.Session) error {
		s.Cart.Items = []model.CartItem{{Name: big}}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Update of a 600 KiB session = %v, want ErrTooLarge", err)
	}
	if _, err := b.Get(ctx, "small"); err != nil {
		t.Fatalf("a refused write disturbed others: %v", err)
	}
}

func TestBigcacheConfig(t *testing.T) {
	b := newTestStore(t, BigcacheConfig{MaxSize: 64 << 20})
	if c := b.Config(); c.TTL != 24*time.Hour || c.MaxSize != 64<<20 || c.Now == nil || c.Logger == nil {
		t.Errorf("effective config %+v", c)
	}
	for _, cfg := range []BigcacheConfig{{MaxSize: 1<<20 - 1}, {MaxSize: -1}, {TTL: -time.Second}} {
		_, err := NewBigcache(context.Background(), cfg)
		if err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	_, err := NewBigcache(context.Background(), BigcacheConfig{MaxSize: 1000})
	if err == nil || !strings.Contains(err.Error(), "max_size") {
		t.Errorf("error %v does not name max_size", err)
	}
}

func TestBigcacheShards(t *testing.T) {
	for _, c := range []struct {
		maxSize int64
		shards  int
	}{{1 << 20, 1}, {3 << 20, 2}, {256 << 20, 256}, {1 << 30, 1024}, {4 << 30, 1024}} {
		b := &Bigcache{cfg: BigcacheConfig{TTL: time.Hour, MaxSize: c.maxSize}}
		cfg := b.bigcacheConfig()
		if cfg.Shards != c.shards || cfg.HardMaxCacheSize != int(c.maxSize>>20) {
			t.Errorf("max_size %d: %d shards of %d MB total", c.maxSize, cfg.Shards, cfg.HardMaxCacheSize)
		}
		if cfg.LifeWindow != time.Hour || cfg.CleanWindow != time.Minute || cfg.Verbose {
			t.Errorf("windows %s/%s verbose %v", cfg.LifeWindow, cfg.CleanWindow, cfg.Verbose)
		}
	}
	b := &Bigcache{cfg: BigcacheConfig{TTL: 1500 * time.Millisecond, MaxSize: 1 << 20}}
	if cfg := b.bigcacheConfig(); cfg.LifeWindow != 2*time.Second || cfg.CleanWindow != time.Second {
		t.Errorf("short ttl: life %s clean %s", cfg.LifeWindow, cfg.CleanWindow)
	}
}

func TestBigcacheStats(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newTestStore(t, BigcacheConfig{TTL: time.Hour, Now: clk.Now})
	ctx := context.Background()
	b.Get(ctx, "a")                  // miss
	b.Update(ctx, "a", addItem("p")) // miss (read), write
	b.Get(ctx, "a")                  // hit
	clk.Advance(2 * time.Hour)
	b.Get(ctx, "a") // expired: a miss
	st := b.Stats()
	if st.Entries != 1 || st.Bytes <= 0 || st.Hits != 1 || st.Misses != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestBigcacheClose(t *testing.T) {
	base := runtime.NumGoroutine()
	b, err := NewBigcache(context.Background(), BigcacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(context.Background(), "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	if err1, err2 := b.Close(), b.Close(); err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := b.Get(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if _, err := b.Update(context.Background(), "a", addItem("p")); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if err := b.Delete(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	b.Stats() // must not panic
	waitGoroutines(t, base)
}

func TestBigcacheContextCloses(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := NewBigcache(ctx, BigcacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// The store closes on its own goroutine, some time after the cancel;
	// counting goroutines alone raced with other tests' goroutines exiting.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Get(context.Background(), "a")
		if errors.Is(err, ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get 5s after cancel = %v, want ErrClosed", err)
		}
		time.Sleep(time.Millisecond)
	}
	waitGoroutines(t, base)
	b.Close()
}

// waitGoroutines waits for the store's goroutines (janitor and context
// watcher) to exit, generously, since exiting is asynchronous.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before the store", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBigcacheRange(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newTestStore(t, BigcacheConfig{TTL: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := b.Update(ctx, id, addItem("p")); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(30 * time.Minute)
	if _, err := b.Update(ctx, "d", addItem("p")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(45 * time.Minute) // a, b, c expired; d alive
	var seen []string
	if err := b.Range(ctx, func(s *model.Session) bool { seen = append(seen, s.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "d" {
		t.Errorf("Range saw %v, want [d]", seen)
	}
}

func TestBigcacheLinked(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newTestStore(t, BigcacheConfig{TTL: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	set := func(id string, fn func(s *model.Session)) {
		t.Helper()
		if _, err := b.Update(ctx, id, func(s *model.Session) error { fn(s); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("expired", func(s *model.Session) { s.Customer.CustomerReference = "c-1" })
	now = now.Add(50 * time.Minute)
	set("customer", func(s *model.Session) { s.Customer.CustomerReference = "c-1" })
	set("buyer", func(s *model.Session) {
		s.Orders = append(s.Orders, model.Order{OrderNumber: "o-1", Buyer: model.Customer{CustomerReference: "c-1"}})
	})
	// The bytes are there but the link is not: the pre-filter must not decide.
	set("lookalike", func(s *model.Session) {
		s.Customer.CustomerReference = "c-10"
		s.Cart.Items = []model.CartItem{{ProductID: "c-1", Quantity: 1}}
	})
	set("other", func(s *model.Session) { s.Customer.CustomerReference = "c-2" })
	now = now.Add(20 * time.Minute) // "expired" is past its hour

	got, err := b.Linked(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if fmt.Sprint(ids) != "[buyer customer]" {
		t.Errorf("Linked(c-1) = %v, want [buyer customer]", ids)
	}
	if got, err := b.Linked(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("Linked(\"\") = %v, %v", got, err)
	}
	b.Close()
	if _, err := b.Linked(ctx, "c-1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Linked on a closed store: %v", err)
	}
}

// MaxEncodedSize binds whatever the store's size: a 4 GiB store would take
// a 2 MiB entry, and must still refuse one over the bound.
func TestBigcacheMaxEncodedSize(t *testing.T) {
	contractTooLarge(t, func(t *testing.T, _ func() time.Time) Store {
		return newTestStore(t, BigcacheConfig{MaxSize: 4 << 30})
	})
}

// An Update that changes nothing decodes the entry once: fn's copy is
// returned when it still encodes to the stored bytes.
func TestBigcacheNoChangeDecodesOnce(t *testing.T) {
	b := newTestStore(t, BigcacheConfig{})
	ctx := context.Background()
	if _, err := b.Update(ctx, "s", setTo(benchSession("s"))); err != nil {
		t.Fatal(err)
	}
	noChange := func(*model.Session) error { return ErrNoChange }
	got, err := b.Update(ctx, "s", noChange)
	if want, _ := b.Get(ctx, "s"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("no-change Update returned %+v, %v; stored %+v", got, err, want)
	}
	get := testing.AllocsPerRun(50, func() { b.Get(ctx, "s") })
	update := testing.AllocsPerRun(50, func() { b.Update(ctx, "s", noChange) })
	if update > get+2 {
		t.Errorf("a no-change Update allocates %v times, a Get %v: decoded twice?", update, get)
	}
}

// Bytes is what the sessions' encodings take, followed through writes,
// rewrites and deletes; Reserved is bigcache's memory.
func TestBigcacheBytesAreTheSessions(t *testing.T) {
	b := newTestStore(t, BigcacheConfig{})
	ctx := context.Background()
	size := func(id string) int64 {
		s, err := b.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := s.MarshalBinary()
		return int64(len(raw))
	}
	b.Update(ctx, "a", addItem("p"))
	b.Update(ctx, "b", addItem("p"))
	b.Update(ctx, "a", addItem("q")) // a grows
	st := b.Stats()
	if want := size("a") + size("b"); st.Bytes != want || st.Entries != 2 {
		t.Errorf("two sessions: %+v, want %d bytes", st, want)
	}
	if st.Reserved <= st.Bytes {
		t.Errorf("reserved %d: want bigcache's shards, far more than %d", st.Reserved, st.Bytes)
	}
	want := size("b")
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Bytes != want {
		t.Errorf("after a delete: %d bytes, want %d", st.Bytes, want)
	}
}

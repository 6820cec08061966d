package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// clock is a settable Now for exact stamp and expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func addItem(id string) UpdateFunc {
	return func(s *model.Session) error {
		s.Cart.Items = append(s.Cart.Items, model.CartItem{ProductID: id, Quantity: 1})
		return nil
	}
}

// storeFactory makes an empty store for one subtest, closed at its end;
// now, when not nil, is the store's clock for stamping sessions.
type storeFactory func(t *testing.T, now func() time.Time) Store

// testStoreContract checks what the Store interface promises, whatever the
// implementation.
func testStoreContract(t *testing.T, newStore storeFactory) {
	for _, c := range []struct {
		name string
		test func(*testing.T, storeFactory)
	}{
		{"UnknownAndInvalidIDs", contractUnknownAndInvalidIDs},
		{"UpdateVersions", contractUpdateVersions},
		{"NoChange", contractNoChange},
		{"FnErrorAborts", contractFnErrorAborts},
		{"NoAliasing", contractNoAliasing},
		{"Delete", contractDelete},
		{"ConcurrentUpdates", contractConcurrentUpdates},
		{"TooLarge", contractTooLarge},
		{"Range", contractRange},
		{"Linked", contractLinked},
		{"UpdatedSince", contractUpdatedSince},
		{"Close", contractClose},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, newStore) })
	}
}

func contractUnknownAndInvalidIDs(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	tooLong := strings.Repeat("x", model.MaxIDLength+1)
	for _, id := range []string{"nope", "", tooLong} {
		if _, err := b.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%.10q) = %v, want ErrNotFound", id, err)
		}
		if err := b.Delete(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%.10q) = %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"", tooLong} {
		if _, err := b.Update(ctx, id, addItem("p")); err == nil {
			t.Errorf("Update(%.10q) succeeded", id)
		}
	}
}

func contractUpdateVersions(t *testing.T, newStore storeFactory) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newStore(t, clk.Now)
	ctx := context.Background()

	s1, err := b.Update(ctx, "a", addItem("p1"))
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID != "a" || s1.Version != 1 || !s1.CreatedAt.Equal(clk.Now()) || !s1.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("first update: %+v", s1)
	}
	clk.Advance(time.Minute)
	s2, err := b.Update(ctx, "a", func(s *model.Session) error {
		if s.Version != 1 || len(s.Cart.Items) != 1 {
			t.Errorf("fn got %+v", s)
		}
		s.Version, s.CreatedAt, s.ID = 99, time.Time{}, "hijack" // the store owns these
		return addItem("p2")(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID != "a" || s2.Version != 2 || !s2.CreatedAt.Equal(s1.CreatedAt) || !s2.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("second update: %+v", s2)
	}
	got, err := b.Get(ctx, "a")
	if err != nil || got.Version != 2 || len(got.Cart.Items) != 2 || got.CreatedAt != s1.CreatedAt {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func contractNoChange(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	s, err := b.Update(ctx, "new", func(s *model.Session) error {
		s.PageType = model.PageCart
		return ErrNoChange
	})
	if err != nil || s.Version != 0 || s.ID != "new" || s.PageType != "" {
		t.Fatalf("new session with ErrNoChange: %+v, %v", s, err)
	}
	if _, err := b.Get(ctx, "new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ErrNoChange stored a new session: %v", err)
	}

	if _, err := b.Update(ctx, "old", addItem("p")); err != nil {
		t.Fatal(err)
	}
	s, err = b.Update(ctx, "old", func(s *model.Session) error {
		s.Cart.Items = nil // changed and then thought better of it
		return fmt.Errorf("wrapped: %w", ErrNoChange)
	})
	if err != nil || s.Version != 1 || len(s.Cart.Items) != 1 {
		t.Fatalf("existing session with ErrNoChange: %+v, %v", s, err)
	}
	if got, _ := b.Get(ctx, "old"); got.Version != 1 || len(got.Cart.Items) != 1 {
		t.Fatalf("stored after ErrNoChange: %+v", got)
	}
}

func contractFnErrorAborts(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := b.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	s, err := b.Update(ctx, "a", func(s *model.Session) error {
		s.Cart.Items = nil
		return boom
	})
	if err != boom || s != nil {
		t.Fatalf("Update = %+v, %v; want nil, boom", s, err)
	}
	if got, _ := b.Get(ctx, "a"); got.Version != 1 || len(got.Cart.Items) != 1 {
		t.Fatalf("aborted update was stored: %+v", got)
	}
	if _, err := b.Update(ctx, "b", func(*model.Session) error { return boom }); err != boom {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted create was stored: %v", err)
	}
}

func contractNoAliasing(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	var seen *model.Session
	s, err := b.Update(ctx, "a", func(s *model.Session) error {
		seen = s
		return addItem("p")(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Cart.Items[0].ProductID = "mutated"
	s.Customer.Email = "x@example.com"
	seen.Version = 77
	g1, _ := b.Get(ctx, "a")
	g1.Cart.Items[0].Name = "also mutated"
	g2, _ := b.Get(ctx, "a")
	if g2.Cart.Items[0].ProductID != "p" || g2.Cart.Items[0].Name != "" || g2.Customer.Email != "" || g2.Version != 1 {
		t.Fatalf("stored session changed through a returned one: %+v", g2)
	}
}

func contractDelete(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	if err := b.Delete(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete unknown = %v", err)
	}
	if _, err := b.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	if s, err := b.Update(ctx, "a", addItem("p")); err != nil || s.Version != 1 {
		t.Fatalf("recreate after Delete: %+v, %v", s, err)
	}
}

func contractConcurrentUpdates(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	const workers, each = 50, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := b.Update(ctx, "same", addItem(fmt.Sprintf("%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
				if _, err := b.Get(ctx, "same"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s, err := b.Get(ctx, "same")
	if err != nil {
		t.Fatal(err)
	}
	checkAllItems(t, s, workers*each)
}

// checkAllItems checks that n updates, each adding one distinct item,
// were all kept.
func checkAllItems(t *testing.T, s *model.Session, n int) {
	t.Helper()
	if len(s.Cart.Items) != n || s.Version != uint64(n) {
		t.Fatalf("got %d items, version %d; want %d", len(s.Cart.Items), s.Version, n)
	}
	seen := make(map[string]bool)
	for _, it := range s.Cart.Items {
		seen[it.ProductID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct items, want %d", len(seen), n)
	}
}

func TestBigcacheContract(t *testing.T) {
	testStoreContract(t, func(t *testing.T, now func() time.Time) Store {
		return newTestStore(t, BigcacheConfig{Now: now})
	})
}

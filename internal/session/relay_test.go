package session

import (
	"context"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// With a write log, a write that is published (it changed what a sink is
// told of) is logged until relayed; one that is stored but published to
// nobody (a page view of an untagged page) is not, since nothing would
// ever take it out, and every node's relay would send the session on
// after 5 s.
func TestOnlyPublishedWritesAreLogged(t *testing.T) {
	store, err := cache.NewRedis(context.Background(), cache.RedisConfig{Addresses: []string{redistest.Addr(t)},
		Prefix: redistest.Prefix(t), HashKey: []byte("session-test-hash-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	v := New(store, Config{Relay: "cfg"})
	ctx := context.Background()
	unrelayed := func() []cache.Unrelayed {
		us, err := store.Unrelayed(ctx, "cfg", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if err := store.Relayed(ctx, "cfg", u.ID, u.Last); err != nil {
				t.Fatal(err)
			}
		}
		return us
	}
	visit := func(s *model.Session) (model.Change, error) { s.Enrichment.PageViews++; return 0, nil }
	cart := func(s *model.Session) (model.Change, error) {
		s.Cart.Items = append(s.Cart.Items, model.CartItem{ProductID: "p", Quantity: 1})
		return model.ChangeCart, nil
	}
	if _, _, err := v.Write(ctx, "a", model.SourceHTML, "/", visit); err != nil {
		t.Fatal(err)
	}
	if us := unrelayed(); len(us) != 0 {
		t.Errorf("a write published to nobody is in the write log: %v", us)
	}
	if _, _, err := v.Write(ctx, "a", model.SourceCollect, "", cart); err != nil {
		t.Fatal(err)
	}
	if us := unrelayed(); len(us) != 1 || us[0].ID != "a" {
		t.Errorf("a published write: log %v", us)
	}
}

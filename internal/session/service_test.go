package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func newStore(t *testing.T) cache.Store {
	t.Helper()
	s, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A write that changes something is recorded and published once, with
// the entry of the version it stored; one that changes only what no
// history records is stored, not published; ErrNoChange stores nothing.
func TestWriteRecordsAndPublishesOnce(t *testing.T) {
	store := newStore(t)
	var published []model.SessionChange
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	v := New(store, Config{
		History: func() int { return 5 },
		Publish: func(_ context.Context, c model.SessionChange) { published = append(published, c) },
		Now:     func() time.Time { return at },
	})
	ctx := context.Background()
	s, c, err := v.Write(ctx, "s1", model.SourceCollect, "/cart?x=1", func(s *model.Session) (model.Change, error) {
		s.PageType = model.PageCart
		return model.ChangeAction, nil
	})
	if err != nil || s.Version != 1 || c.Entry.Version != 1 || c.Entry.Path != "/cart" || !c.Entry.At.Equal(at) || len(s.History) != 1 {
		t.Fatalf("first write: %+v %+v %v", s, c, err)
	}
	if _, c, _ = v.Write(ctx, "s1", model.SourceHTML, "/", func(s *model.Session) (model.Change, error) {
		s.Enrichment.PageViews++
		return 0, nil
	}); c.Session != nil {
		t.Errorf("a write that records nothing published %+v", c)
	}
	s, _, _ = v.Write(ctx, "s1", model.SourceHTML, "/", func(*model.Session) (model.Change, error) { return 0, cache.ErrNoChange })
	if s.Version != 2 || len(published) != 1 || published[0].Entry.Source != model.SourceCollect {
		t.Errorf("version %d, published %+v; want version 2 (the page view) and one change", s.Version, published)
	}
	boom := errors.New("refused")
	if _, _, err := v.Write(ctx, "s1", model.SourceAPI, "", func(*model.Session) (model.Change, error) { return model.ChangeContext, boom }); !errors.Is(err, boom) || len(published) != 1 {
		t.Errorf("a refused write: %v, %d published", err, len(published))
	}
}

// Erase publishes that the session is gone, also when it already was.
func TestErasePublishes(t *testing.T) {
	store := newStore(t)
	var erased []string
	v := New(store, Config{Erased: func(id string) { erased = append(erased, id) }})
	ctx := context.Background()
	v.Write(ctx, "e1", model.SourceCollect, "", func(s *model.Session) (model.Change, error) { return model.ChangeAction, nil })
	if err := v.Erase(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Erase(ctx, "e1"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("erasing it again: %v", err)
	}
	if len(erased) != 2 {
		t.Errorf("erased %v; want e1 twice", erased)
	}
	if _, err := store.Get(ctx, "e1"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("the session is still there: %v", err)
	}
}

package cache

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// An update function that refuses by what it reads (the API's context
// PUT: not found, forbidden, a version conflict) is never answered from
// this node's remembered bytes: another node's write since is read first.
func TestRedisRememberedBytesDecideNoRefusal(t *testing.T) {
	a := newRedisStore(t, RedisConfig{})
	b := newRedisStore(t, a.Config())
	ctx := context.Background()
	if _, err := a.Update(ctx, "s", addItem("p1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, "s", addItem("p2")); err != nil { // v2, on another node
		t.Fatal(err)
	}
	errOld := errors.New("409: the session is not at version 2")
	s, err := a.Update(ctx, "s", func(s *model.Session) error {
		if s.Version != 2 {
			return errOld
		}
		s.PageType = model.PageCart
		return nil
	})
	if err != nil || s.Version != 3 {
		t.Errorf("the session is at version 2 in Redis, yet the update answered %v, %+v", err, s)
	}
}

package caddymodule

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// lazyBigcache is the pooled embedded store, built at its first use rather
// than at the first Provision that names it. Caddy provisions a config's
// servers in no set order, so the operator handler's site, which names
// the store without sizing it, may come before the shop's, which sizes
// it: the sizes of the first config that gives any are the ones built.
type lazyBigcache struct {
	mu    sync.Mutex
	want  cache.BigcacheConfig
	sized bool // want came from a config that set ttl or max_size
	built atomic.Pointer[cache.Bigcache]
	// secrets are the process's: they need no sessions, so asking for
	// one (at Provision) builds nothing.
	secrets cache.ProcessSecrets
}

// size adopts want as the sizes to build with, unless another config gave
// sizes first. It reports the sizes that apply and whether they came
// from a config that gave any.
func (l *lazyBigcache) size(want cache.BigcacheConfig, explicit bool) (cache.BigcacheConfig, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.built.Load(); b != nil {
		return b.Config(), true
	}
	if explicit && !l.sized {
		l.want, l.sized = want, true
	} else if !l.sized {
		l.want = want // the logger, at least
	}
	return l.want, l.sized
}

// store is the bigcache, built now if this is its first use.
func (l *lazyBigcache) store() (*cache.Bigcache, error) {
	if b := l.built.Load(); b != nil {
		return b, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.built.Load(); b != nil {
		return b, nil
	}
	// Never a config's ctx: it is cancelled at the next reload, which
	// would stop the store's janitor under a live store.
	b, err := cache.NewBigcache(context.Background(), l.want)
	if err != nil {
		return nil, err
	}
	l.built.Store(b)
	return b, nil
}

// Destruct closes the store once no config uses it any more.
func (l *lazyBigcache) Destruct() error {
	if b := l.built.Load(); b != nil {
		return b.Close()
	}
	return nil
}

func (l *lazyBigcache) Get(ctx context.Context, id string) (*model.Session, error) {
	b, err := l.store()
	if err != nil {
		return nil, err
	}
	return b.Get(ctx, id)
}

func (l *lazyBigcache) Update(ctx context.Context, id string, fn cache.UpdateFunc) (*model.Session, error) {
	b, err := l.store()
	if err != nil {
		return nil, err
	}
	return b.Update(ctx, id, fn)
}

func (l *lazyBigcache) Delete(ctx context.Context, id string) error {
	b, err := l.store()
	if err != nil {
		return err
	}
	return b.Delete(ctx, id)
}

func (l *lazyBigcache) Range(ctx context.Context, fn func(*model.Session) bool) error {
	b, err := l.store()
	if err != nil {
		return err
	}
	return b.Range(ctx, fn)
}

func (l *lazyBigcache) UpdatedSince(ctx context.Context, since, until time.Time, cursor string, n int) ([]cache.Updated, string, error) {
	b, err := l.store()
	if err != nil {
		return nil, "", err
	}
	return b.UpdatedSince(ctx, since, until, cursor, n)
}

func (l *lazyBigcache) Linked(ctx context.Context, ref string) ([]*model.Session, error) {
	b, err := l.store()
	if err != nil {
		return nil, err
	}
	return b.Linked(ctx, ref)
}

// Stats builds nothing: an unbuilt store is empty.
func (l *lazyBigcache) Stats() cache.Stats {
	if b := l.built.Load(); b != nil {
		return b.Stats()
	}
	return cache.Stats{}
}

// Close is the pool's (Destruct); a config never closes a shared store.
func (l *lazyBigcache) Close() error { return nil }

// Secret implements cache.Secrets with the process's secrets.
func (l *lazyBigcache) Secret(ctx context.Context, name string) ([]byte, error) {
	return l.secrets.Secret(ctx, name)
}

var (
	_ cache.Store   = (*lazyBigcache)(nil)
	_ cache.Secrets = (*lazyBigcache)(nil)
)

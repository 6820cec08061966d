// Package bus is a typed publish/subscribe within one process: a writer
// publishes an event once, and whoever cares subscribes for as long as it
// cares, instead of the writer holding a callback field per consumer that
// each new config overwrites.
package bus

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Bus delivers events of type T to its subscribers. The zero value is
// ready to use.
type Bus[T any] struct {
	mu sync.Mutex // serialises Subscribe and its unsubscribe
	// subs is copied on every change, so that Publish reads it without a
	// lock: publishing is on the request path, subscribing is not.
	subs atomic.Pointer[[]*subscriber[T]]
}

type subscriber[T any] struct{ f func(T) }

// Subscribe calls f with every event published from now on, until the
// returned function is called (once is enough; more are harmless). f runs
// on the publisher's goroutine, in subscription order, and must not
// block: hand slow work to a goroutine or queue of its own.
func (b *Bus[T]) Subscribe(f func(T)) (unsubscribe func()) {
	s := &subscriber[T]{f: f}
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []*subscriber[T]
	if cur := b.subs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, s)
	b.subs.Store(&next)
	return func() { b.remove(s) }
}

func (b *Bus[T]) remove(s *subscriber[T]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.subs.Load()
	if cur == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(x *subscriber[T]) bool { return x == s })
	b.subs.Store(&next)
}

// Publish calls every subscriber with ev.
func (b *Bus[T]) Publish(ev T) {
	if cur := b.subs.Load(); cur != nil {
		for _, s := range *cur {
			s.f(ev)
		}
	}
}

// Subscribers is how many subscribers there are now.
func (b *Bus[T]) Subscribers() int {
	if cur := b.subs.Load(); cur != nil {
		return len(*cur)
	}
	return 0
}

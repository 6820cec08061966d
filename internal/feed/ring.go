package feed

import (
	"context"
	"sync"
	"sync/atomic"
)

// subscriberBuffer is how many events a subscriber may be behind before
// it loses some.
const subscriberBuffer = 256

// Ring is a Feed in this process's memory: the newest Size events, and
// the live subscribers.
type Ring struct {
	mu      sync.Mutex
	buf     []Event
	next    int // where the next event goes
	full    bool
	subs    map[chan Event]struct{}
	dropped atomic.Uint64
}

// NewRing returns a ring of size events (DefaultSize if size <= 0).
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultSize
	}
	return &Ring{buf: make([]Event, size), subs: map[chan Event]struct{}{}}
}

// Publish implements Feed.
func (r *Ring) Publish(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
	for ch := range r.subs {
		select {
		case ch <- e:
		default:
			r.dropped.Add(1)
		}
	}
}

// Recent implements Feed.
func (r *Ring) Recent(_ context.Context, n int) ([]Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	have := r.next
	if r.full {
		have = len(r.buf)
	}
	n = min(max(n, 0), have)
	out := make([]Event, n)
	for i := range n {
		out[i] = r.buf[(r.next-n+i+len(r.buf))%len(r.buf)]
	}
	return out, nil
}

// Forget implements Feed.
func (r *Ring) Forget(_ context.Context, sessionID string) error {
	r.forget(sessionID)
	return nil
}

// forget keeps the ring's other events, in their order.
func (r *Ring) forget(sessionID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	have := r.next
	if r.full {
		have = len(r.buf)
	}
	kept := make([]Event, 0, have)
	for i := range have {
		if e := r.buf[(r.next-have+i+len(r.buf))%len(r.buf)]; e.SessionID != sessionID {
			kept = append(kept, e)
		}
	}
	clear(r.buf)
	copy(r.buf, kept)
	r.next, r.full = len(kept)%len(r.buf), len(kept) == len(r.buf)
}

// Subscribe implements Feed.
func (r *Ring) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.subs, ch)
			r.mu.Unlock()
		})
	}
}

// Dropped implements Feed.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }

// Close implements Feed; a ring has nothing to stop.
func (r *Ring) Close() error { return nil }

var _ Feed = (*Ring)(nil)

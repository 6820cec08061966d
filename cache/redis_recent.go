package cache

import "sync"

// recentBudget bounds the bytes of sessions a Redis store remembers.
const recentBudget = 16 << 20

// recent remembers, per session, the bytes this node last read from or
// wrote to Redis, so that an update can go straight to its
// compare-and-set: one round trip instead of a read and a write. It is a
// guess, never trusted: the script compares it with what Redis holds and,
// when another node wrote since, answers with that, which the next
// attempt starts from. Past its budget it forgets entries at random.
type recent struct {
	mu    sync.Mutex
	m     map[string][]byte
	bytes int
}

func (c *recent) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[id]
	return b, ok
}

// put remembers b (nil: forget id); b must never change afterwards.
func (c *recent) put(id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[id]; ok {
		c.bytes -= len(id) + len(old)
		delete(c.m, id)
	}
	if b == nil || len(b) > recentBudget/64 {
		return
	}
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	for k, v := range c.m { // map order is random enough for eviction
		if c.bytes+len(id)+len(b) <= recentBudget {
			break
		}
		c.bytes -= len(k) + len(v)
		delete(c.m, k)
	}
	c.m[id] = b
	c.bytes += len(id) + len(b)
}

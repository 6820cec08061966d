package delivery

import (
	"container/list"
	"sync"
)

// boundedMap is a map from session id to V bounded to max entries, which
// drops the least recently used entry when full. The Emporix sink keeps
// context versions in it, the Talon.One sink the sessions it closed.
type boundedMap[V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *boundedEntry[V], most recent first
	byID  map[string]*list.Element
}

type boundedEntry[V any] struct {
	id string
	v  V
}

func newBoundedMap[V any](max int) *boundedMap[V] {
	return &boundedMap[V]{max: max, order: list.New(), byID: make(map[string]*list.Element)}
}

func (m *boundedMap[V]) get(id string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byID[id]
	if !ok {
		var zero V
		return zero, false
	}
	m.order.MoveToFront(el)
	return el.Value.(*boundedEntry[V]).v, true
}

func (m *boundedMap[V]) put(id string, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.byID[id]; ok {
		el.Value.(*boundedEntry[V]).v = v
		m.order.MoveToFront(el)
		return
	}
	m.byID[id] = m.order.PushFront(&boundedEntry[V]{id: id, v: v})
	for m.order.Len() > m.max {
		last := m.order.Back()
		m.order.Remove(last)
		delete(m.byID, last.Value.(*boundedEntry[V]).id)
	}
}

func (m *boundedMap[V]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// take removes id's entry and returns it.
func (m *boundedMap[V]) take(id string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.byID[id]
	if !ok {
		var zero V
		return zero, false
	}
	m.order.Remove(el)
	delete(m.byID, id)
	return el.Value.(*boundedEntry[V]).v, true
}

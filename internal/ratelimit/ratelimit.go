// Package ratelimit keeps token buckets per client network in a table of
// bounded size: the visitor path asks it before it stores anything a
// client can make it store (a new session, a collect write), so that no
// one client can fill the session store. It has no Caddy dependency.
package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is one kind of bucket: Events per Per, up to Burst at once. A rule
// with no Events or no Per is off: it allows everything and keeps nothing.
type Rule struct {
	Events int
	Per    time.Duration
	// Burst is the bucket's size; Events when 0.
	Burst int
}

// Off reports whether the rule limits nothing.
func (r Rule) Off() bool { return r.Events <= 0 || r.Per <= 0 }

func (r Rule) newBucket() *rate.Limiter {
	burst := r.Burst
	if burst <= 0 {
		burst = r.Events
	}
	return rate.NewLimiter(rate.Every(r.Per/time.Duration(r.Events)), burst)
}

// Table holds one bucket per rule and client network, for at most max
// networks: when a new one comes with the table full, the network that
// asked least recently is forgotten. A forgotten bucket starts full again
// when its network comes back, so max must exceed the networks active
// within one refill time; an idle bucket that has refilled is no loss.
type Table struct {
	rules []Rule
	max   int

	mu    sync.Mutex
	byKey map[netip.Prefix]*entry
	lru   entryList // least recently used first
}

type entry struct {
	key        netip.Prefix
	prev, next *entry
	buckets    []*rate.Limiter // by rule; made on first use
}

// New returns a table for rules (indexed as given) over at most
// client networks: clients, at least 1.
func New(rules []Rule, clients int) *Table {
	return &Table{rules: rules, max: max(clients, 1), byKey: make(map[netip.Prefix]*entry)}
}

// Allow takes a token of rule from the bucket of addr's network. When
// there is none it returns false and how long until there is one.
func (t *Table) Allow(rule int, addr string, now time.Time) (bool, time.Duration) {
	if t.rules[rule].Off() {
		return true, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(rule, Network(addr))
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, wait(b, now)
}

// Wait is how long until the bucket of addr's network has a token of rule,
// without taking one: 0 when it has.
func (t *Table) Wait(rule int, addr string, now time.Time) time.Duration {
	if t.rules[rule].Off() {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return wait(t.bucket(rule, Network(addr)), now)
}

// Len is how many networks the table holds.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// bucket finds or makes the network's bucket of rule, marking the network
// used; t.mu is held.
func (t *Table) bucket(rule int, key netip.Prefix) *rate.Limiter {
	e := t.byKey[key]
	if e == nil {
		e = t.add(key)
	} else {
		t.lru.remove(e)
		t.lru.pushBack(e)
	}
	if e.buckets[rule] == nil {
		e.buckets[rule] = t.rules[rule].newBucket()
	}
	return e.buckets[rule]
}

func (t *Table) add(key netip.Prefix) *entry {
	var e *entry
	if len(t.byKey) >= t.max {
		// Reused: a table churned by many networks allocates nothing.
		e = t.lru.head
		t.lru.remove(e)
		delete(t.byKey, e.key)
		clear(e.buckets)
	} else {
		e = &entry{buckets: make([]*rate.Limiter, len(t.rules))}
	}
	e.key = key
	t.byKey[key] = e
	t.lru.pushBack(e)
	return e
}

// wait is how long until b has a whole token.
func wait(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	secs := missing / float64(b.Limit())
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// Network is the client network addr is limited as: the address itself
// for IPv4 (/32), its /64 for IPv6, since one subscriber, and so one
// attacker, usually has a whole /64. An address that does not parse maps
// to the zero Prefix, one bucket shared by all such.
func Network(addr string) netip.Prefix {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 64
	if a.Is4() {
		bits = 32
	}
	p, _ := a.Prefix(bits)
	return p
}

// entryList is an intrusive doubly linked list of entries.
type entryList struct{ head, tail *entry }

func (l *entryList) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *entryList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

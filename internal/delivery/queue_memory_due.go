package delivery

import "time"

// The due sessions: a heap by time, first come first served within a
// time, with stale entries (re-scheduled or removed) skipped.
type dueEntry struct {
	at  time.Time
	seq uint64
	id  string
}

type dueHeap []dueEntry

func (h dueHeap) less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}

// push and pop are container/heap's, without boxing each entry in an any.
func (h *dueHeap) push(e dueEntry) {
	*h = append(*h, e)
	for i := len(*h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		(*h)[i], (*h)[p] = (*h)[p], (*h)[i]
		i = p
	}
}

func (h *dueHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < n && h.less(l, small) {
			small = l
		}
		if r := l + 1; r < n && h.less(r, small) {
			small = r
		}
		if small == i {
			return
		}
		(*h)[i], (*h)[small] = (*h)[small], (*h)[i]
		i = small
	}
}

func (q *memQueue) dueAdd(id string, at time.Time) {
	q.seq++
	e := dueEntry{at: at, seq: q.seq, id: id}
	q.dueAt[id] = e
	q.due.push(e)
}

func (q *memQueue) dueDel(id string) { delete(q.dueAt, id) }

// top drops stale entries and returns the first live one.
func (q *memQueue) top() (dueEntry, bool) {
	for len(q.due) > 0 {
		e := q.due[0]
		if cur, ok := q.dueAt[e.id]; ok && cur.seq == e.seq {
			return e, true
		}
		q.due.pop()
	}
	return dueEntry{}, false
}

// duePop takes the first session due by now.
func (q *memQueue) duePop(now time.Time) (string, bool) {
	e, ok := q.top()
	if !ok || e.at.After(now) {
		return "", false
	}
	q.due.pop()
	delete(q.dueAt, e.id)
	return e.id, true
}

func (q *memQueue) dueNext() (time.Time, bool) {
	e, ok := q.top()
	return e.at, ok
}

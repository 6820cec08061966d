package cache

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// The full scans of the store: operator work (GDPR), never the request path.

// Range implements Store.Range over bigcache's iterator, skipping expired
// and undecodable entries.
func (b *Bigcache) Range(ctx context.Context, fn func(*model.Session) bool) error {
	return b.scan(ctx, func(raw []byte) bool {
		s, ok := b.decodeLive(raw)
		return !ok || fn(s)
	})
}

// Linked implements Store.Linked. A session linked to ref holds it
// verbatim in its encoding, so entries without those bytes are skipped
// undecoded: over 100,000 sessions that takes a third of the time and
// memory of a full Range (BENCHMARKS.md).
func (b *Bigcache) Linked(ctx context.Context, ref string) ([]*model.Session, error) {
	if ref == "" {
		return nil, nil
	}
	// A reference is in the encoding as it is, so entries without it are
	// skipped undecoded; an email may be stored in any case.
	needle := []byte(ref)
	email := strings.HasPrefix(ref, "email:")
	var linked []*model.Session
	err := b.scan(ctx, func(raw []byte) bool {
		if !email && !bytes.Contains(raw, needle) {
			return true
		}
		if s, ok := b.decodeLive(raw); ok && s.LinkedTo(ref) {
			linked = append(linked, s)
		}
		return true
	})
	return linked, err
}

// scan calls fn with every entry's encoded session until fn returns false.
func (b *Bigcache) scan(ctx context.Context, fn func(raw []byte) bool) error {
	bc := b.cache.Load()
	if bc == nil {
		return ErrClosed
	}
	for it := bc.Iterator(); it.SetNext(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		entry, err := it.Value()
		if err != nil {
			continue // removed while we iterated
		}
		if !fn(entry.Value()) {
			return nil
		}
	}
	return nil
}

// decodeLive decodes an entry, or says it is expired or undecodable.
func (b *Bigcache) decodeLive(raw []byte) (*model.Session, bool) {
	s := new(model.Session)
	if s.UnmarshalBinary(raw) != nil || !b.cfg.Now().Before(s.UpdatedAt.Add(b.cfg.TTL)) {
		return nil, false
	}
	return s, true
}

// UpdatedSince implements Store.UpdatedSince with a walk of the cache,
// oldest write first; the cursor is "<unix ns>:<id>" of the last listed.
func (b *Bigcache) UpdatedSince(ctx context.Context, since, until time.Time, cursor string, n int) ([]Updated, string, error) {
	type hit struct {
		id string
		at int64
	}
	var afterAt int64 = -1
	var afterID string
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, ":")
		v, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, "", fmt.Errorf("bigcache: bad replay cursor %q", cursor)
		}
		afterAt, afterID = v, id
	}
	var hits []hit
	err := b.Range(ctx, func(s *model.Session) bool {
		at := s.UpdatedAt.UnixNano()
		if !s.UpdatedAt.Before(since) && !s.UpdatedAt.After(until) && (at > afterAt || (at == afterAt && s.ID > afterID)) {
			hits = append(hits, hit{s.ID, at})
		}
		return true
	})
	if err != nil {
		return nil, cursor, err
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	more := len(hits) > max(n, 1)
	hits = hits[:min(len(hits), max(n, 1))]
	out := make([]Updated, len(hits))
	for i, h := range hits {
		out[i] = Updated{ID: h.id, Cursor: strconv.FormatInt(h.at, 10) + ":" + h.id}
	}
	if !more {
		return out, "", nil
	}
	return out, out[len(out)-1].Cursor, nil
}

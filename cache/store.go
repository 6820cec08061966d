// Package cache holds the session store: the interface the handler and the
// upstream engine use, and its implementations. It has no Caddy dependency.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// ErrNotFound is returned by Get and Delete for a session the store does not
// hold (never written, deleted, or expired).
var ErrNotFound = errors.New("session not found")

// ErrUnavailable is wrapped by the errors of a store that cannot be
// reached or did not answer in time (a network error, a timeout, a server
// that is loading or out of memory): the session is not at fault, and the
// same call may succeed later. Callers answer 503 rather than 500, and
// log such errors at a rate, not once per request.
var ErrUnavailable = errors.New("session store unavailable")

// ErrOutcomeUnknown is wrapped, with ErrUnavailable, by the error of an
// Update whose write was sent but not answered in time, and whose result
// could not be read back: it may have been stored. Callers must not say
// "nothing was stored"; a write that carries state (a cart, a customer)
// may simply be sent again.
var ErrOutcomeUnknown = errors.New("the write's outcome is unknown")

// ErrNoChange may be returned by an Update function to leave the stored
// session as it was: nothing is written and the version does not move.
var ErrNoChange = errors.New("no change")

// UpdateFunc changes s in place. s is the stored session, or a new one with
// only ID set when the store holds none (Version 0 tells them apart).
// Returning an error aborts the update and nothing is written; returning
// ErrNoChange aborts it without an error reaching the caller. A store
// may call fn more than once, on a fresh read each time (the Redis store
// retries when another node wrote meanwhile), so fn must not carry state
// from one call to the next; only the last call's result is stored.
type UpdateFunc func(s *model.Session) error

// Store keeps sessions by id. Implementations are safe for concurrent use,
// and Update is an atomic read-modify-write: concurrent Updates of one id
// never lose a write, whichever process or goroutine makes them.
type Store interface {
	// Get returns a copy of the stored session, or ErrNotFound.
	Get(ctx context.Context, id string) (*model.Session, error)
	// Update applies fn to the session with this id (creating it when
	// absent), increments its Version, sets UpdatedAt (and CreatedAt when
	// new), stores it and returns what was stored. With ErrNoChange from fn
	// it returns the session unchanged and a nil error. A session whose
	// encoding would pass model.MaxEncodedSize, or the tighter bound of
	// WithSizeLimit(ctx), is not written: ErrTooLarge.
	Update(ctx context.Context, id string, fn UpdateFunc) (*model.Session, error)
	// Delete removes the session, or returns ErrNotFound.
	Delete(ctx context.Context, id string) error
	// Range calls fn with a copy of every live session until fn returns
	// false. It is a full scan, meant for rare operator work (GDPR
	// takeout), not for the request path; sessions written during the scan
	// may or may not be seen.
	Range(ctx context.Context, fn func(*model.Session) bool) error
	// Linked returns the live sessions linked to a customer reference
	// (Session.LinkedTo), for GDPR takeout and delete. It may scan like
	// Range; an empty reference links nothing.
	Linked(ctx context.Context, customerRef string) ([]*model.Session, error)
	// UpdatedSince lists up to n sessions last written from since to until,
	// after cursor ("" to start), each with the cursor that resumes after
	// it, and the cursor after the list ("" when there are no more): a
	// replay's source. A session written again meanwhile moves past until
	// and is not listed again; a listed one may have expired since. The
	// Redis store reads an index its writes keep; the embedded store
	// walks its memory on every call.
	UpdatedSince(ctx context.Context, since, until time.Time, cursor string, n int) (list []Updated, next string, err error)
	// Stats describes the store for operators.
	Stats() Stats
	// Close stops background work and releases memory.
	Close() error
}

// Updated is one session of UpdatedSince's list, and the cursor that
// resumes after it.
type Updated struct{ ID, Cursor string }

// Stats are an operator's figures about a store.
type Stats struct {
	// Entries is how many sessions the store holds; -1 when it cannot
	// tell (Redis).
	Entries int `json:"entries"`
	// Bytes is their encoded size, keys and the store's own bookkeeping
	// left out; -1 when it cannot tell.
	Bytes int64 `json:"bytes"`
	// Reserved is the memory the store holds for them, used or not
	// (bigcache allocates its shards up front); 0 when it cannot tell.
	Reserved  int64 `json:"reserved,omitempty"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"`
	Expired   int64 `json:"expired"`
}

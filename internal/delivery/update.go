// Package upstream delivers session updates to the systems that act on
// them (Talon.One, Emporix, Nosto, webhooks): in order per session,
// coalesced, retried, in the background, never on the request path.
package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Update is an immutable snapshot of a session after a change, queued for
// delivery. Nothing in it is shared with the store or with a request: it
// is built before the request goes on, and never changed afterwards.
type Update struct {
	// EventID is the delivery's idempotency key, which sinks send: the
	// engine sets it per sink (see EventID) before Deliver, replacing
	// whatever the caller put here.
	EventID string
	// Session is a deep copy of the session at Version.
	Session model.Session
	// Changed says what this update changed compared with the previous
	// version: a cart, customer or order change, or only an action.
	Changed model.Change
	// OccurredAt is when the change was stored.
	OccurredAt time.Time
	// Since is the version of the session this sink last delivered, 0
	// when it knows of none; the engine sets it per sink before Deliver.
	// Orders recorded after it are new to the sink (NewOrders).
	Since uint64
	// Client is the network of the client whose request made the change
	// (e.g. "192.0.2.7/32", an IPv6 /64): a client holds at most its share
	// of a sink's queue (see Engine). Empty for changes no client made;
	// those are not held to a share. Never stored as is in Redis (see redisBackend.clientKey).
	Client string
}

// Feedback is what an upstream answered that the session keeps.
type Feedback struct {
	// Effects are Talon.One's effects for the session, as it sent them.
	Effects json.RawMessage
	// ContextVersion is Emporix's session-context version after the write.
	ContextVersion int64
}

// IsZero reports whether the feedback carries nothing to keep.
func (f Feedback) IsZero() bool { return len(f.Effects) == 0 && f.ContextVersion == 0 }

// Sink delivers updates to one upstream system. Deliver is called with at
// most one update per session at a time, in increasing version order.
type Sink interface {
	// Name identifies the sink in metrics and logs, e.g. "talonone".
	Name() string
	// Deliver sends u. An error that is a *DeliveryError says whether and
	// when to retry; any other error is treated as a network error.
	Deliver(ctx context.Context, u *Update) (Feedback, error)
}

// DeliveryError is an upstream's refusal or failure, classified.
type DeliveryError struct {
	// Status is the HTTP status, 0 for a network error.
	Status int
	// Retryable is true for network errors, 5xx, 429 and conflicts the
	// sink resolves by retrying (Talon.One's 409 for parallel requests).
	Retryable bool
	// RetryAfter is the upstream's Retry-After, 0 when it gave none.
	RetryAfter time.Duration
	// Snippet is the start of the upstream's answer, for the log, the
	// session API and Redis. Sinks make it with their Redaction only, so
	// that nothing the upstream echoed of a secret or of the session's
	// personal data is in it.
	Snippet string
	Err     error
}

func (e *DeliveryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("delivery failed: %v", e.Err)
	}
	return fmt.Sprintf("upstream answered %d: %s", e.Status, e.Snippet)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Retryable
	}
	return err != nil // network and unknown errors
}

// Hasher pseudonymises customer references and emails before they leave
// the process, with HMAC-SHA256 under the operator's key.
type Hasher struct{ key []byte }

// NewHasher returns a Hasher with key. An empty key is an HMAC anyone can
// compute, so a guessable value is found by trying; the Caddy glue warns.
func NewHasher(key string) *Hasher { return &Hasher{key: []byte(key)} }

// Hash returns the lowercase hex HMAC-SHA256 of v, or "" for "".
func (h *Hasher) Hash(v string) string {
	if v == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

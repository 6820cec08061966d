package delivery

import (
	"context"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// queue is where one sink's updates wait, per session: in this process's
// memory (memQueue, for the embedded store) or in Redis (redisQueue,
// shared by a fleet). The engine (Engine, runner.go) is the same over
// both; the queue decides admission, order, coalescing, leases and what a
// sink last got, with the same rules, which one contract suite checks
// against both (contract_test.go).
//
// A session is held (it counts against QueueSize and its client's share)
// from the update that queues it until nothing of it is waiting or in
// flight. Per session there is at most one update in flight or waiting
// for its retry (f) and one waiting behind it (p), the newest; a newer one
// replaces p and takes over what p changed, and when f waits for its
// retry, p takes f's place with f's changes too when it is claimed.
type queue interface {
	// enqueue admits u, charged to client ("" for none): admitQueued,
	// admitSuperseded (it replaced a waiting update), admitStale (a
	// newer one is queued or started) or admitDropped (the queue is
	// full, or the client holds its share).
	enqueue(ctx context.Context, u *Update, client string) (string, error)
	// claim takes back the leases that ran out, then leases up to n due
	// sessions to token's holder.
	claim(ctx context.Context, n int, token string) (claimBatch, error)
	// complete records an attempt's result (completeDone), or reports it
	// was cancelled meanwhile (completeCancelled) or taken over
	// (completeLost).
	complete(ctx context.Context, c claim, r completion) (int64, error)
	// cancel forgets a session: what waits, its retry and what the sink
	// last got. It returns how many waiting updates it dropped.
	cancel(ctx context.Context, id string) (int, error)
	// retry is the operator's "retry now" (see Deliverer.Retry).
	retry(ctx context.Context, u *Update) (string, error)
	// status is the sink's view of one session.
	status(ctx context.Context, id string) (DeliveryStatus, error)
	// pending counts the sessions held.
	pending(ctx context.Context) (int, error)
}

// What enqueue answers.
const (
	admitQueued     = "queued"
	admitSuperseded = "superseded"
	admitStale      = "stale"
	admitDropped    = "dropped"
)

// claimBatch is what one claim took.
type claimBatch struct {
	// tookBack counts leases that ran out (their holder died or hung);
	// gaveUp the updates whose attempts such holders used up.
	tookBack, gaveUp int
	// next is the wait until the next due session, -1 for none.
	next   time.Duration
	claims []claim
}

// claim is one leased session.
type claim struct {
	id      string
	version uint64
	// u is the update to attempt, nil when it could not be read back
	// (given up, never retried).
	u          *Update
	changes    model.Change // what u changed, with what it replaced
	attempt    int
	streak     int    // consecutive failures of the session (backoff)
	delivered  string // fingerprint of what the sink last got
	token      string
	superseded bool   // a newer update replaced one waiting for its retry
	since      uint64 // the version the sink last delivered
	claimedAt  time.Time
}

// completion is an attempt's result, as complete records it.
type completion struct {
	// result: "ok" (delivered: remember fp), "skip" or "fail" (done with
	// the update), "retry" (again at next), "release" (not attempted
	// after all: due again now, the attempt not counted).
	result string
	next   time.Duration
	fp     string
	// streak: "reset", "incr" or "keep".
	streak  string
	failure *DeliveryFailure
}

// The codes of complete.
const (
	completeLost      = 0 // taken over: the other node counts
	completeDone      = 1
	completeCancelled = 2 // cancelled while in flight: dropped
)

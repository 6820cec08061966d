package delivery

import (
	"context"
	"time"
)

// Deliverer is what the Caddy glue asks of a delivery engine: Engine,
// whose queues are in this process's memory (New, for the embedded store)
// or in Redis, shared by every node (NewOutbox, for the Redis store).
// It delivers per sink and session one update at a time, in version
// order, coalesced to the newest, retried with backoff.
type Deliverer interface {
	// AddSink adds a sink before the first Enqueue.
	AddSink(s Sink, opt SinkOptions)
	// Enqueue queues u for every sink, never blocking on one.
	Enqueue(u *Update)
	// Cancel drops the session's undelivered updates (GDPR delete).
	Cancel(sessionID string)
	// Close stops taking updates and ends the work in flight within ctx.
	Close(ctx context.Context) error
	// Stats returns each sink's gauges and counters.
	Stats() []SinkStats
	// Status returns each sink's view of one session's deliveries.
	Status(ctx context.Context, sessionID string) ([]DeliveryStatus, error)
	// Retry makes the sink's attempt for u's session now, or queues u
	// (the session as it stands) when nothing is waiting: the operator's
	// "retry now". It returns RetryQueued, RetryInFlight or RetryDelivered.
	Retry(ctx context.Context, sink string, u *Update) (string, error)
	// SetReplaySource gives the store replays read from (see Replay).
	SetReplaySource(src ReplaySource)
	// Replay queues to sink the current state of every session written
	// since since, in the background; ReplayStatus reads its progress.
	Replay(ctx context.Context, sink string, since time.Time) (ReplayStatus, error)
	ReplayStatus(ctx context.Context, sink string) (ReplayStatus, error)
	// OnFeedback sets what keeps an upstream's answer on the session.
	OnFeedback(f func(sink string, u *Update, fb Feedback))
	// OnResult sets what counts outcomes (metrics).
	OnResult(f func(sink, outcome string, latency time.Duration))
	// OnAttempt sets what is told of each attempt's outcome (delivered,
	// retried, failed) with its session and version: the inspector's
	// live list. It runs on the delivering goroutine and must not block.
	OnAttempt(f func(sink, sessionID string, version uint64, outcome string))
}

var _ Deliverer = (*Engine)(nil)

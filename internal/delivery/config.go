package delivery

import "time"

// Config tunes the delivery engine. Zero fields take their defaults.
type Config struct {
	// QueueSize bounds, per sink, the sessions with an undelivered update:
	// waiting, waiting to be retried, or in flight (default 10000).
	QueueSize int
	// Concurrency bounds the deliveries in flight per sink, across
	// sessions (default 8).
	Concurrency int
	// MaxAttempts bounds the attempts per update, the first included
	// (default 8).
	MaxAttempts int
	// BaseBackoff is the cap of the first retry's delay (default 200ms);
	// the cap doubles with every consecutive failure of a session and the
	// delay is drawn uniformly below it (full jitter).
	BaseBackoff time.Duration
	// MaxBackoff caps retry delays, an upstream's Retry-After included
	// (default 30s).
	MaxBackoff time.Duration
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// LogInterval is how often each sink logs one line of its give-ups
	// and drops (default 10s).
	LogInterval time.Duration
}

// The defaults of Config.
const (
	DefaultQueueSize   = 10000
	DefaultConcurrency = 8
	DefaultMaxAttempts = 8
	DefaultBaseBackoff = 200 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultTimeout     = 10 * time.Second
)

// historyFactor is how many idle sessions, per queued one, a sink keeps
// the last delivered version and fingerprint of.
const historyFactor = 4

// clientShareDivisor sets ClientShare: one client holds at most a 16th of
// a sink's queue, so that it takes sixteen clients, not one, to fill it.
const clientShareDivisor = 16

// ClientShare is the most sessions of one client (Update.Client) that a
// sink of a queue of queueSize holds, in memory and in Redis alike:
// max(1, queueSize/16).
func ClientShare(queueSize int) int { return max(1, queueSize/clientShareDivisor) }

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.QueueSize, DefaultQueueSize)
	def(&c.Concurrency, DefaultConcurrency)
	def(&c.MaxAttempts, DefaultMaxAttempts)
	defDur(&c.BaseBackoff, DefaultBaseBackoff)
	defDur(&c.MaxBackoff, DefaultMaxBackoff)
	defDur(&c.Timeout, DefaultTimeout)
	defDur(&c.LogInterval, DefaultLogInterval)
	c.BaseBackoff = min(c.BaseBackoff, c.MaxBackoff)
	return c
}

// When a sink wants updates: SinkOptions.On.
const (
	// OnChange delivers updates that changed the cart, customer or orders,
	// and skips those whose cart, customer and orders equal what the sink
	// last delivered for the session.
	OnChange = "change"
	// OnAction delivers every update, page views included.
	OnAction = "action"
)

// SinkOptions configures one sink.
type SinkOptions struct {
	// On is OnChange (the default, for "") or OnAction.
	On string
	// Name labels the sink in stats, metrics, logs and feedback; the
	// sink's own Name when empty. Two sinks of one engine should not
	// share one.
	Name string
	// Requires are the consent purposes a visitor must have granted
	// (model.Consent) for the sink to get anything of them; none: every
	// visitor's updates go. An update that withdraws one also cancels
	// what waits for the sink.
	Requires []string
}

// The outcomes OnResult reports, one per update (retried: per attempt).
const (
	OutcomeDelivered  = "delivered"  // the sink accepted the update
	OutcomeRetried    = "retried"    // an attempt failed and will be retried
	OutcomeSuperseded = "superseded" // a newer update of the session replaced it
	OutcomeDropped    = "dropped"    // queue full, engine closed, or Cancel
	OutcomeFailed     = "failed"     // refused, or out of attempts
	OutcomeSkipped    = "skipped"    // nothing the sink wants changed
	OutcomeNoConsent  = "no_consent" // the visitor did not consent to what the sink requires
)

// SinkStats are one sink's gauges and counters.
type SinkStats struct {
	Name string
	// Pending counts the sessions with an undelivered update, those in
	// flight included; it never exceeds Config.QueueSize (on a Redis
	// Cluster, 64 queues of at least 2 sessions each: see shardedQueue).
	Pending int
	// InFlight counts the attempts running now.
	InFlight int
	// The counters, by outcome (see the Outcome constants).
	Delivered, Retried, Superseded, Dropped, Failed, Skipped uint64
	// NoConsent counts updates not sent for want of the visitor's consent.
	NoConsent uint64
}

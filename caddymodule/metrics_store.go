package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// storeErrors counts a shared store's failed calls where they are made
// (guardedStore), so that an outage shows on a graph whatever the call
// was for. Package-level, registered by registerMetrics like the others.
var storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "store_errors_total",
	Help: "Session store calls that failed, by store and operation (get, update, delete, range, linked): " +
		"the store unreachable or too slow (calls refused without trying while it is known down included) or a store error. " +
		"Not found and too large are answers, not failures.",
}, []string{"store", "op"})

// outboxErrors counts the Redis delivery outbox's failed Redis calls: with
// Redis down, deliveries stop being queued and leased, and the store's
// counter does not see the outbox's own client.
var outboxErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "outbox_errors_total",
	Help: "Redis calls of the delivery outbox that failed, by operation (enqueue, claim, complete, cancel, state_get, state_put).",
}, []string{"op"})

// feedErrors counts the inspector's live feed's failed Redis calls: with
// Redis down the inspectors of the fleet stop seeing each other's changes.
var feedErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "feed_errors_total",
	Help: "Redis calls of the inspector's live feed that failed, by operation (write, read).",
}, []string{"op"})

func observeOutboxError(op string) { outboxErrors.WithLabelValues(op).Inc() }

func observeFeedError(op string) { feedErrors.WithLabelValues(op).Inc() }

// storeDuration is how long a shared store's calls take, for choosing its
// timeout: a timeout below the p99 under load fails healthy calls.
var storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "store_duration_seconds",
	Help:    "How long session store calls took, by store and operation, failed ones included.",
	Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2},
}, []string{"store", "op"})

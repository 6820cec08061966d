package caddymodule

import (
	"errors"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Collectors are package-level so that they survive config reloads: each
// config registers them into its registry and ignores AlreadyRegistered.
var (
	deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "sessiontap", Name: "deliveries_total",
		Help: "Session update deliveries by sink and outcome (delivered, retried, superseded, skipped, dropped, failed, no_consent).",
	}, []string{"sink", "outcome"})
	deliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "sessiontap", Name: "delivery_duration_seconds",
		Help:    "Time from a change being stored to its delivery, by sink.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"sink"})
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "sessiontap", Name: "api_requests_total",
		Help: "Operator API requests by route (sessions, customers, session-context, other) and status.",
	}, []string{"route", "status"})
	nostoUnattributed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "sessiontap", Name: "nosto_orders_unattributed_total",
		Help: "Orders not sent to Nosto: neither Nosto's customer id (2c.cId) nor a verified customer reference was known.",
	}, []string{"sink"})
	queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "sessiontap", Name: "delivery_queue_sessions",
		Help: "Sessions waiting for delivery, over all sinks of all running engines.",
	}, pendingSessions)
)

// registerMetrics adds the collectors to this config's registry.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{deliveries, deliveryLatency, apiRequests, nostoUnattributed, queueDepth, captureCollector{}, storeCollector{}, storeErrors, outboxErrors, feedErrors, limited, sessionWrites, relayedWrites, redisEvictions, redisMemoryUsed, storeDuration} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

func observeAPIRequest(route string, status int) {
	apiRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

func observeDelivery(sink, outcome string, latency time.Duration) {
	deliveries.WithLabelValues(sink, outcome).Inc()
	if outcome == "delivered" {
		deliveryLatency.WithLabelValues(sink).Observe(latency.Seconds())
	}
}

// pendingSessions sums the queue depth of the engines in the pool.
func pendingSessions() float64 {
	total := 0
	engines.Range(func(_, v any) bool {
		for _, s := range v.(pooledEngine).Stats() {
			total += s.Pending
		}
		return true
	})
	return float64(total)
}

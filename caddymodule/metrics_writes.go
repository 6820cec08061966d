package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// sessionWrites counts the writes that changed a session, by where they
// came from; it subscribes to every store's bus.
var sessionWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "session_writes_total",
	Help: "Writes that changed a session, by source: html, json, collect, api (session context), upstream (feedback).",
}, []string{"source"})

func countWrite(c change) { sessionWrites.WithLabelValues(string(c.Entry.Source)).Inc() }

package inspector

import "time"

// The JSON the inspector's page reads, as Go types. app.js has a JSDoc
// typedef of each, and the golden files in testdata/wire hold the Go side
// to them (go test -run TestWire -update writes them again, for review).

// MeAnswer is GET {prefix}/ui/me: the sign-in's CSRF token, its end, and
// the API's prefix.
type MeAnswer struct {
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
	API     string    `json:"api"`
}

// RowsEvent is one "rows" event of the live list: the newest change of
// each session (with its sinks' states), the sinks' states of sessions
// whose deliveries moved, and how many changes a burst skipped.
type RowsEvent struct {
	Rows    []Row        `json:"rows"`
	Sinks   []SinkStates `json:"sinks"`
	Skipped int          `json:"skipped"`
}

// SummaryAnswer is GET {prefix}/ui/summary: the Config.Summary of the
// Caddy glue, and how many changes the live feed dropped.
type SummaryAnswer struct {
	Summary     any    `json:"summary"`
	FeedDropped uint64 `json:"feed_dropped"`
}

// SearchAnswer is POST {prefix}/ui/search.
type SearchAnswer struct {
	Sessions []SearchHit `json:"sessions"`
}

package caddymodule

import (
	"path/filepath"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/goldentest"
)

// The inspector's summary strip as its page reads it (the SummaryAnswer
// typedef of app.js): a change of a field shows here first.
func TestWireSummary(t *testing.T) {
	sum := InspectorSummary{
		Captures: CaptureTotals{
			HTML: SourceTotals{Pages: 10, Stored: 4, Truncated: 1, Remembered: 3, OverBudget: 1},
			JSON: SourceTotals{Pages: 2, Stored: 2, DroppedFields: 1},
		},
		Sinks: []SinkStats{{Name: "webhook", Pending: 1, Delivered: 7, Retried: 2, Failed: 1}},
		Store: cache.Stats{Entries: 2, Bytes: 745, Reserved: 1 << 20, Hits: 9, Misses: 3},
	}
	goldentest.JSON(t, filepath.Join("testdata", "wire", "summary.json"), "app.js's SummaryAnswer", sum)
}

package caddymodule

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/cache"
)

var updateWire = flag.Bool("update", false, "write the golden files of testdata/wire again")

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
	got, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "wire", "summary.json")
	if *updateWire {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestWireSummary -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("the summary changed: app.js's SummaryAnswer must change with it\ngot:\n%s\nwant:\n%s", got, want)
	}
}

package caddymodule

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiontap/caddy-sessiontap/handler"
)

// The registry is shared with the in-process Caddy of other tests, so
// these assertions are about differences.
func TestCaptureTotalsRetireOnce(t *testing.T) {
	var a, b handler.CaptureStats
	live0, total0 := captureTotals()
	trackCapture(&a)
	trackCapture(&b)
	a.HTML.Stored.Add(3)
	b.JSON.Pages.Add(5)
	b.JSON.DroppedFields.Add(2)
	live, total := captureTotals()
	if live.HTML.Stored-live0.HTML.Stored != 3 || live.JSON.Pages-live0.JSON.Pages != 5 ||
		total.JSON.DroppedFields-total0.JSON.DroppedFields != 2 || live.HTML.Pages != live0.HTML.Pages {
		t.Fatalf("live %+v (was %+v), total %+v (was %+v)", live, live0, total, total0)
	}

	untrackCapture(&a)
	untrackCapture(&a) // Cleanup may run twice
	live, total2 := captureTotals()
	if live.HTML.Stored != live0.HTML.Stored || total2 != total {
		t.Errorf("after retiring: live %+v (was %+v), total %+v (was %+v)", live, live0, total2, total)
	}
	untrackCapture(&b)
	if _, total3 := captureTotals(); total3 != total {
		t.Errorf("total moved on retiring: %+v, then %+v", total, total3)
	}
	// Never tracked (a failed Provision): nothing changes.
	var c handler.CaptureStats
	c.HTML.Stored.Add(7)
	untrackCapture(&c)
	if _, total4 := captureTotals(); total4 != total {
		t.Errorf("an untracked handler was counted: %+v", total4)
	}
}

// Caddy's registries are pedantic: what Collect sends must match Describe.
func TestCollectorsPassPedanticRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(captureCollector{}, storeCollector{})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

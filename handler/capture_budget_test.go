package handler

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pageFunc is an upstream written as a function.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

func (f pageFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// The captures in flight share one budget: a response that would take
// more goes on whole but uncaptured, counted; one that fits is captured;
// and what they held is given back.
func TestCaptureBudgetBoundsCapturesInFlight(t *testing.T) {
	h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.Budget = 8 << 10 })
	html := http.Header{"Content-Type": {"text/html"}}

	big := cartTagging + strings.Repeat("x", 16<<10)
	if w := visit(t, h, c, page{header: html, body: big}); w.Body.String() != big {
		t.Fatalf("a page past the budget was not passed on whole: %d bytes", w.Body.Len())
	}
	if n := cartLen(t, store, c); n > 0 || h.stats.HTML.OverBudget.Load() != 1 {
		t.Fatalf("past the budget: cart %d, over_budget %d; want 0 and 1", n, h.stats.HTML.OverBudget.Load())
	}

	// A page holding 6 KiB of the budget while a second, of 4 KiB, is
	// served: the second goes uncaptured, the first is captured.
	_, _, other := capturingHandler(t, nil)
	second := cartTagging + strings.Repeat("y", 4<<10)
	var secondBody string
	first := pageFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		if _, err := io.WriteString(w, cartTagging+strings.Repeat("z", 6<<10-len(cartTagging))); err != nil {
			return err
		}
		if held := h.CaptureBytesInFlight(); held != 6<<10 {
			t.Errorf("the first page holds %d bytes of the budget, want %d", held, 6<<10)
		}
		secondBody = visit(t, h, other, page{header: html, body: second}).Body.String()
		return nil
	})
	r, _ := http.NewRequest("GET", "/cart", nil)
	r.AddCookie(c)
	if err := serveNow(h, httptest.NewRecorder(), r, first); err != nil {
		t.Fatal(err)
	}
	if secondBody != second || h.stats.HTML.OverBudget.Load() != 2 {
		t.Errorf("the second page: %d bytes passed on, over_budget %d; want all and 2", len(secondBody), h.stats.HTML.OverBudget.Load())
	}
	if n := cartLen(t, store, c); n != 1 {
		t.Errorf("the first page, within the budget, stored a cart of %d lines; want 1", n)
	}
	if held := h.CaptureBytesInFlight(); held != 0 {
		t.Errorf("%d bytes of the budget still held after every response ended", held)
	}
}

package inspector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/internal/goldentest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// golden holds v's JSON to testdata/wire/<name>.json: the shape the
// page's typedefs describe.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	goldentest.JSON(t, filepath.Join("testdata", "wire", name+".json"), "the page's typedef (app.js)", v)
}

func TestWire(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	golden(t, "me", MeAnswer{CSRF: "csrf-token", Expires: at, API: "/_sessiontap/api"})

	price, _ := model.ParseDecimal("9.95")
	s := &model.Session{ID: "sess-1", Version: 3, PageType: model.PageCart,
		Cart:     model.Cart{Items: []model.CartItem{{ProductID: "p1", Quantity: 2, UnitPrice: price, PriceCurrencyCode: "EUR"}}},
		Customer: model.Customer{CustomerReference: "c-1"}}
	e := model.HistoryEntry{Version: 3, At: at, Source: model.SourceCollect, Changes: model.ChangeCart | model.ChangeAction, Path: "/cart"}
	golden(t, "rows", RowsEvent{
		Rows:    []Row{{Event: feed.EventOf(s, e, "node-a"), Sinks: []SinkState{{Sink: "webhook", State: "pending"}}}},
		Sinks:   []SinkStates{{SessionID: "sess-2", Sinks: []SinkState{{Sink: "webhook", State: "delivered"}}}},
		Skipped: 4,
	})
	golden(t, "search", SearchAnswer{Sessions: []SearchHit{
		{SessionID: "sess-1", Version: 3, PageType: model.PageCart, Match: "session"},
		{SessionID: "sess-9", Version: 1, Match: "customer", RefHash: "5f2b…"},
	}})
	golden(t, "summary-answer", SummaryAnswer{Summary: struct{}{}, FeedDropped: 2})
}

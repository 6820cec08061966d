package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiontap/caddy-sessiontap/handler"
)

// CaptureTotals are capture counters summed over handlers, per source.
type CaptureTotals struct {
	HTML SourceTotals `json:"html"`
	JSON SourceTotals `json:"json"`
}

// SourceTotals are one source's counters (see handler.CaptureCounters for
// what each counts).
type SourceTotals struct {
	Pages         int64 `json:"pages"`
	Stored        int64 `json:"stored"`
	Truncated     int64 `json:"truncated"`
	Undecodable   int64 `json:"undecodable"`
	DroppedFields int64 `json:"dropped_fields"`
	CacheGuarded  int64 `json:"cache_guarded"`
	Ambiguous     int64 `json:"ambiguous"`
	Remembered    int64 `json:"remembered"`
	OverBudget    int64 `json:"over_budget"`
}

func (t *CaptureTotals) add(s *handler.CaptureStats) {
	t.HTML.add(&s.HTML)
	t.JSON.add(&s.JSON)
}

func (t *CaptureTotals) plus(o CaptureTotals) {
	t.HTML.plus(o.HTML)
	t.JSON.plus(o.JSON)
}

func (t *SourceTotals) add(c *handler.CaptureCounters) {
	t.plus(SourceTotals{Pages: c.Pages.Load(), Stored: c.Stored.Load(), Truncated: c.Truncated.Load(),
		Undecodable: c.Undecodable.Load(), DroppedFields: c.DroppedFields.Load(), CacheGuarded: c.CacheGuarded.Load(),
		Ambiguous: c.Ambiguous.Load(), Remembered: c.Remembered.Load(), OverBudget: c.OverBudget.Load()})
}

func (t *SourceTotals) plus(o SourceTotals) {
	t.Pages += o.Pages
	t.Stored += o.Stored
	t.Truncated += o.Truncated
	t.Undecodable += o.Undecodable
	t.DroppedFields += o.DroppedFields
	t.CacheGuarded += o.CacheGuarded
	t.Ambiguous += o.Ambiguous
	t.Remembered += o.Remembered
	t.OverBudget += o.OverBudget
}

// captures registers the capture counters of the live handlers. When a
// handler is cleaned up (its config was replaced), its counts move to
// retired, so totals since the process started never go down on a reload.
// A capture still finishing in a retired handler after that is not counted.
var captures = struct {
	sync.Mutex
	live    map[*handler.CaptureStats]struct{}
	retired CaptureTotals
}{live: map[*handler.CaptureStats]struct{}{}}

// trackCapture adds a provisioned handler's counters.
func trackCapture(s *handler.CaptureStats) {
	captures.Lock()
	defer captures.Unlock()
	captures.live[s] = struct{}{}
}

// untrackCapture retires a handler's counters. It may run more than once
// for a handler and only counts them the first time.
func untrackCapture(s *handler.CaptureStats) {
	captures.Lock()
	defer captures.Unlock()
	if _, ok := captures.live[s]; !ok {
		return
	}
	delete(captures.live, s)
	captures.retired.add(s)
}

// captureTotals returns the sum over the live handlers (the running
// configs) and the sum since the process started.
func captureTotals() (live, sinceStart CaptureTotals) {
	captures.Lock()
	defer captures.Unlock()
	for s := range captures.live {
		live.add(s)
	}
	sinceStart = captures.retired
	sinceStart.plus(live)
	return live, sinceStart
}

// captureCollector exposes the capture counters since the process
// started, read at scrape time, labelled by source (html: tagging in
// pages; json: cart API bodies).
type captureCollector struct{}

var (
	capturePagesDesc = prometheus.NewDesc("caddy_sessiontap_capture_pages_total",
		"Responses and request bodies scanned by capture.", []string{"source"}, nil)
	capturesDesc = prometheus.NewDesc("caddy_sessiontap_captures_total",
		"Capture results by outcome: stored (a session changed), truncated (body over the limit), "+
			"undecodable (compressed body did not decode), cache_guarded (cart/customer of a shared-cache page ignored), "+
			"over_budget (passed on uncaptured: the captures in flight held capture_budget), ambiguous (html: two carts or customers).",
		[]string{"source", "outcome"}, nil)
	droppedFieldsDesc = prometheus.NewDesc("caddy_sessiontap_capture_dropped_fields_total",
		"Captured values refused as invalid.", []string{"source"}, nil)
	rememberedDesc = prometheus.NewDesc("caddy_sessiontap_capture_remembered_total",
		"Pages whose tagging came from the memo of pages seen byte for byte before, not a parse.", nil, nil)
)

func (captureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- capturePagesDesc
	ch <- capturesDesc
	ch <- droppedFieldsDesc
	ch <- rememberedDesc
}

func (captureCollector) Collect(ch chan<- prometheus.Metric) {
	_, t := captureTotals()
	collectSource(ch, "html", t.HTML)
	collectSource(ch, "json", t.JSON)
	ch <- prometheus.MustNewConstMetric(rememberedDesc, prometheus.CounterValue, float64(t.HTML.Remembered))
}

func collectSource(ch chan<- prometheus.Metric, source string, t SourceTotals) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(capturePagesDesc, t.Pages, source)
	counter(capturesDesc, t.Stored, source, "stored")
	counter(capturesDesc, t.Truncated, source, "truncated")
	counter(capturesDesc, t.Undecodable, source, "undecodable")
	counter(capturesDesc, t.CacheGuarded, source, "cache_guarded")
	counter(capturesDesc, t.OverBudget, source, "over_budget")
	if source == "html" {
		counter(capturesDesc, t.Ambiguous, source, "ambiguous")
	}
	counter(droppedFieldsDesc, t.DroppedFields, source)
}

// storeCollector exposes the figures of the stores in the pool, read at
// scrape time.
type storeCollector struct{}

var (
	storeEntriesDesc = prometheus.NewDesc("caddy_sessiontap_store_entries",
		"Sessions held by the store.", []string{"store"}, nil)
	storeBytesDesc = prometheus.NewDesc("caddy_sessiontap_store_bytes",
		"Encoded size of the sessions the store holds, in bytes.", []string{"store"}, nil)
	storeReservedDesc = prometheus.NewDesc("caddy_sessiontap_store_reserved_bytes",
		"Memory the store holds for sessions, used or not (bigcache allocates it up front), in bytes.", []string{"store"}, nil)
	storeEvictionsDesc = prometheus.NewDesc("caddy_sessiontap_store_evictions_total",
		"Sessions evicted to keep the store under its size cap.", []string{"store"}, nil)
)

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeEntriesDesc
	ch <- storeBytesDesc
	ch <- storeReservedDesc
	ch <- storeEvictionsDesc
}

func (storeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range pooledStores() {
		st := s.store.Stats()
		// -1 is unknown (Redis): no series rather than a false -1 or 0.
		if st.Entries >= 0 {
			ch <- prometheus.MustNewConstMetric(storeEntriesDesc, prometheus.GaugeValue, float64(st.Entries), s.name)
		}
		if st.Bytes >= 0 {
			ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.Bytes), s.name)
			// Evictions are the size cap's, which only a store that knows
			// its bytes has; Redis's are server-wide and not reported.
			ch <- prometheus.MustNewConstMetric(storeEvictionsDesc, prometheus.CounterValue, float64(st.Evictions), s.name)
		}
		if st.Reserved > 0 {
			ch <- prometheus.MustNewConstMetric(storeReservedDesc, prometheus.GaugeValue, float64(st.Reserved), s.name)
		}
	}
}

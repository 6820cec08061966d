package delivery

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// During an outage every session gives up and the queue overflows: the
// log gets one line per interval with counts, not one per session.
func TestEngineOutageLogsOneLinePerInterval(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	down := &fakeSink{name: "webhook", answer: func(u *Update, call int) (Feedback, error) {
		time.Sleep(time.Millisecond)
		return Feedback{}, &DeliveryError{Status: 503, Retryable: true, Snippet: "down"}
	}}
	e, results := newTestEngine(t, Config{MaxAttempts: 2, QueueSize: 20, LogInterval: time.Hour}, zap.New(core))
	e.AddSink(down, SinkOptions{Name: "orders-hook"})
	const sessions = 200
	for i := range sessions {
		e.Enqueue(newUpd(fmt.Sprintf("s%d", i), 1, model.ChangeCart))
	}
	st := stats(e, 0)
	if st.Name != "orders-hook" || st.Dropped == 0 {
		t.Fatalf("stats %+v: the label is not used, or nothing overflowed", st)
	}
	await(t, results, "orders-hook", OutcomeFailed, int(sessions-st.Dropped))
	if n := len(logs.FilterMessage("upstream deliveries given up or dropped").All()); n != 0 {
		t.Fatalf("%d lines before the interval ended", n)
	}
	closeEngine(t, e) // flushes the interval
	lines := logs.FilterMessage("upstream deliveries given up or dropped").All()
	if len(lines) != 1 {
		t.Fatalf("%d summary lines for %d sessions, want 1", len(lines), sessions)
	}
	f := lines[0].ContextMap()
	if f["sink"] != "orders-hook" || f["failed"] != int64(sessions)-int64(st.Dropped) || f["dropped"] != int64(st.Dropped) || fmt.Sprint(f["failed_by_status"]) != fmt.Sprintf("map[503:%d]", f["failed"]) {
		t.Errorf("summary %v", f)
	}
	if n := logs.Len(); n > 3 {
		t.Errorf("%d log lines in all: %v", n, logs.AllUntimed())
	}
}

// The interval's line comes when the interval ends, without a close.
func TestEngineSummaryAfterInterval(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		return Feedback{}, &DeliveryError{Status: 400}
	}}
	e, results := newTestEngine(t, Config{LogInterval: 50 * time.Millisecond}, zap.New(core))
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	e.Enqueue(newUpd("b", 1, model.ChangeCart))
	await(t, results, "s", OutcomeFailed, 2)
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("upstream deliveries given up or dropped").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no summary line after the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f := logs.FilterMessage("upstream deliveries given up or dropped").All()[0].ContextMap(); f["failed"] != int64(2) {
		t.Errorf("summary %v", f)
	}
	closeEngine(t, e)
}

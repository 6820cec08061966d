package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestEngineRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		maxBackoff time.Duration
		wantGap    time.Duration
	}{
		{"honoured", 50 * time.Millisecond, time.Second, 50 * time.Millisecond},
		{"capped", time.Hour, 20 * time.Millisecond, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
				if call == 1 {
					return Feedback{}, &DeliveryError{Status: 429, Retryable: true, RetryAfter: tc.retryAfter}
				}
				return Feedback{}, nil
			}}
			e, results := newTestEngine(t, Config{MaxBackoff: tc.maxBackoff}, nil)
			e.AddSink(sink, SinkOptions{})
			e.Enqueue(newUpd("a", 1, model.ChangeCart))
			await(t, results, "s", OutcomeDelivered, 1)
			calls := sink.callList()
			if len(calls) != 2 {
				t.Fatalf("%d calls", len(calls))
			}
			if gap := calls[1].at.Sub(calls[0].at); gap < tc.wantGap {
				t.Fatalf("retried after %v, want at least %v", gap, tc.wantGap)
			}
			if st := stats(e, 0); st.Retried != 1 || st.Delivered != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestEngineRetriesRetryableErrors(t *testing.T) {
	for name, failure := range map[string]error{
		"503":      &DeliveryError{Status: 503, Retryable: true},
		"409":      &DeliveryError{Status: 409, Retryable: true, Snippet: "parallel request"},
		"network":  errors.New("connection reset"),
		"deadline": context.DeadlineExceeded,
	} {
		t.Run(name, func(t *testing.T) {
			sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
				if call <= 3 {
					return Feedback{}, failure
				}
				return Feedback{}, nil
			}}
			e, results := newTestEngine(t, Config{}, nil)
			e.AddSink(sink, SinkOptions{})
			e.Enqueue(newUpd("a", 1, model.ChangeCart))
			await(t, results, "s", OutcomeDelivered, 1)
			if st := stats(e, 0); st.Retried != 3 || st.Delivered != 1 || st.Failed != 0 || sink.n.Load() != 4 {
				t.Fatalf("stats %+v after %d calls", st, sink.n.Load())
			}
		})
	}
}

func TestEngineNoRetryOnClientError(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		return Feedback{}, &DeliveryError{Status: 400, Snippet: `{"error":"bad coupon"}`}
	}}
	e, results := newTestEngine(t, Config{}, zap.New(core))
	e.AddSink(sink, SinkOptions{})
	u := newUpd("a", 1, model.ChangeCustomer)
	u.Session.Customer.Email = "secret@example.com"
	e.Enqueue(u)
	await(t, results, "s", OutcomeFailed, 1)
	closeEngine(t, e)
	if st := stats(e, 0); st.Failed != 1 || st.Retried != 0 || sink.n.Load() != 1 {
		t.Fatalf("stats %+v after %d calls", st, sink.n.Load())
	}
	failures := logs.FilterMessage("upstream deliveries given up or dropped").All()
	if len(failures) != 1 {
		t.Fatalf("%d failure log lines", len(failures))
	}
	f := failures[0].ContextMap()
	ex, _ := f["example"].(map[string]any)
	if f["sink"] != "s" || f["failed"] != int64(1) || ex["session"] != "a" || ex["status"] != int64(400) || ex["snippet"] != `{"error":"bad coupon"}` {
		t.Fatalf("log fields %v", f)
	}
	if strings.Contains(fmt.Sprint(logs.AllUntimed()), "secret@example.com") {
		t.Fatal("personal data logged")
	}
}

func TestEngineMaxAttempts(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		return Feedback{}, &DeliveryError{Status: 503, Retryable: true, Snippet: "down"}
	}}
	e, results := newTestEngine(t, Config{MaxAttempts: 3}, zap.New(core))
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	await(t, results, "s", OutcomeFailed, 1)
	closeEngine(t, e)
	if st := stats(e, 0); st.Failed != 1 || st.Retried != 2 || sink.n.Load() != 3 {
		t.Fatalf("stats %+v after %d calls", st, sink.n.Load())
	}
	failures := logs.FilterMessage("upstream deliveries given up or dropped").All()
	if len(failures) != 1 || failures[0].ContextMap()["example"].(map[string]any)["attempts"] != int64(3) {
		t.Fatalf("failure log lines: %v", failures)
	}
}

func TestEngineRetryDeliversNewest(t *testing.T) {
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		if u.Session.Version == 1 { // version 1 never gets through
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true, RetryAfter: 10 * time.Millisecond}
		}
		return Feedback{}, nil
	}}
	e, results := newTestEngine(t, Config{MaxAttempts: 1000, MaxBackoff: time.Second}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	await(t, results, "s", OutcomeRetried, 1)
	e.Enqueue(newUpd("a", 2, model.ChangeCart, "x"))
	await(t, results, "s", OutcomeDelivered, 1)
	closeEngine(t, e)
	vs := sink.versions("a")
	if vs[len(vs)-1] != 2 || sink.overlap.Load() {
		t.Fatalf("versions %v", vs)
	}
	if st := stats(e, 0); st.Delivered != 1 || st.Superseded != 1 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEngineBackoffReleasesSlot(t *testing.T) {
	sink := &fakeSink{name: "s", answer: func(u *Update, call int) (Feedback, error) {
		if u.Session.ID == "slow" {
			return Feedback{}, &DeliveryError{Status: 429, Retryable: true, RetryAfter: time.Hour}
		}
		return Feedback{}, nil
	}}
	e, results := newTestEngine(t, Config{Concurrency: 1, MaxBackoff: time.Hour}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("slow", 1, model.ChangeCart))
	await(t, results, "s", OutcomeRetried, 1)
	for i := range 5 {
		e.Enqueue(newUpd(fmt.Sprint("other", i), 1, model.ChangeCart))
	}
	await(t, results, "s", OutcomeDelivered, 5) // with the only slot free
	if st := stats(e, 0); st.Pending != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err == nil {
		t.Fatal("Close reported nothing left, but slow is waiting an hour")
	}
	checkNoEngineGoroutines(t)
}

func TestEngineRetryDelay(t *testing.T) {
	c := Config{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}.withDefaults()
	for streak := range 8 {
		ceil := min(c.MaxBackoff, c.BaseBackoff<<streak)
		low := false
		for range 1000 {
			d := c.retryDelay(streak, &DeliveryError{Status: 503, Retryable: true})
			if d < 0 || d > ceil {
				t.Fatalf("streak %d: delay %v outside [0, %v]", streak, d, ceil)
			}
			low = low || d < ceil/2
		}
		if !low {
			t.Fatalf("streak %d: no jitter", streak)
		}
	}
	if d := c.retryDelay(0, &DeliveryError{Status: 429, Retryable: true, RetryAfter: 30 * time.Millisecond}); d != 30*time.Millisecond {
		t.Fatalf("Retry-After 30ms gave %v", d)
	}
	if d := c.retryDelay(0, &DeliveryError{Status: 429, Retryable: true, RetryAfter: time.Hour}); d != c.MaxBackoff {
		t.Fatalf("Retry-After 1h gave %v, want the cap", d)
	}
	if d := c.retryDelay(1000, errors.New("x")); d > c.MaxBackoff {
		t.Fatalf("long streak gave %v", d)
	}
}

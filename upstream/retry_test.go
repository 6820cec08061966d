package upstream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// flakySink fails (503, retryable) until up is set.
func flakySink(up *atomic.Bool) *fakeSink {
	return &fakeSink{name: "s", answer: func(*Update, int) (Feedback, error) {
		if up.Load() {
			return Feedback{}, nil
		}
		return Feedback{}, &DeliveryError{Status: 503, Retryable: true, Snippet: "down"}
	}}
}

// testRetryNow runs the operator's "retry now" against a deliverer whose
// backoff is an hour: nothing but Retry makes the next attempt.
func testRetryNow(t *testing.T, d Deliverer, results *results, sink *fakeSink, up *atomic.Bool) {
	ctx := context.Background()
	d.Enqueue(newUpd("waiting", 1, model.ChangeCart))
	await(t, results, "s", OutcomeRetried, 1)
	up.Store(true)
	if res, err := d.Retry(ctx, "s", newUpd("waiting", 1, model.ChangeCart)); err != nil || res != RetryQueued {
		t.Fatalf("retry of an attempt in backoff: %q, %v", res, err)
	}
	await(t, results, "s", OutcomeDelivered, 1)

	// Delivered: a retry has nothing to do.
	if res, err := d.Retry(ctx, "s", newUpd("waiting", 1, model.ChangeCart)); err != nil || res != RetryDelivered {
		t.Fatalf("retry of a delivered version: %q, %v", res, err)
	}
	// Never queued here (given up, or forgotten): the state given is queued.
	if res, err := d.Retry(ctx, "s", newUpd("other", 4, model.ChangeCart)); err != nil || res != RetryQueued {
		t.Fatalf("retry of a session with nothing waiting: %q, %v", res, err)
	}
	await(t, results, "s", OutcomeDelivered, 1)
	if v := lastVersion(sink, "other"); v != 4 {
		t.Fatalf("delivered version %d of the retried session, want 4", v)
	}
	if _, err := d.Retry(ctx, "nope", newUpd("other", 4, model.ChangeCart)); !errors.Is(err, ErrUnknownSink) {
		t.Fatalf("retry for an unknown sink: %v", err)
	}
}

func TestEngineRetryNow(t *testing.T) {
	var up atomic.Bool
	sink := flakySink(&up)
	e, results := newTestEngine(t, Config{MaxAttempts: 5, BaseBackoff: time.Hour, MaxBackoff: time.Hour}, nil)
	e.AddSink(sink, SinkOptions{})
	testRetryNow(t, e, results, sink, &up)
	closeEngine(t, e)
}

func TestOutboxRetryNow(t *testing.T) {
	var up atomic.Bool
	sink := flakySink(&up)
	n := newTestNode(t, redistest.Prefix(t), OutboxConfig{Config: Config{MaxAttempts: 5, BaseBackoff: time.Hour, MaxBackoff: time.Hour}}, nil)
	n.AddSink(sink, SinkOptions{})
	testRetryNow(t, n.Outbox, n.results, sink, &up)
}

// TestEngineRetryGivenUp: an update given up after its attempts is
// attempted again, afresh, when the operator asks.
func TestEngineRetryGivenUp(t *testing.T) {
	var up atomic.Bool
	sink := flakySink(&up)
	e, results := newTestEngine(t, Config{MaxAttempts: 1}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 2, model.ChangeCart))
	await(t, results, "s", OutcomeFailed, 1)
	up.Store(true)
	if res, err := e.Retry(context.Background(), "s", newUpd("a", 2, model.ChangeCart)); err != nil || res != RetryQueued {
		t.Fatalf("retry: %q, %v", res, err)
	}
	await(t, results, "s", OutcomeDelivered, 1)
	st, _ := e.Status(context.Background(), "a")
	if st[0].DeliveredVersion != 2 || st[0].LastError == nil {
		t.Fatalf("status %+v: want version 2 delivered and the earlier failure kept", st[0])
	}
	closeEngine(t, e)
}

package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	testRetryNow(t, n.Engine, n.results, sink, &up)
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

// attempts records OnAttempt's calls.
type attempts struct {
	mu  sync.Mutex
	got []string
}

func (a *attempts) record(sink, id string, version uint64, outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, fmt.Sprintf("%s %s v%d %s", sink, id, version, outcome))
}

func (a *attempts) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// testOnAttempt: each attempt is told with its session and version, so
// the inspector's list can show sink states as they move.
func testOnAttempt(t *testing.T, d Deliverer, results *results, up *atomic.Bool) {
	var a attempts
	d.OnAttempt(a.record)
	d.Enqueue(newUpd("s1", 3, model.ChangeCart))
	await(t, results, "s", OutcomeRetried, 1)
	up.Store(true)
	await(t, results, "s", OutcomeDelivered, 1)
	// OnAttempt comes after the counters: wait for it too.
	eventually(t, "the delivered attempt told", func() bool {
		got := a.list()
		return len(got) > 0 && strings.HasSuffix(got[len(got)-1], "delivered")
	})
	got := a.list()
	if len(got) < 2 || got[0] != "s s1 v3 retried" || got[len(got)-1] != "s s1 v3 delivered" {
		t.Fatalf("attempts told %q, want retries of s1 v3, then delivered", got)
	}
}

func TestEngineOnAttempt(t *testing.T) {
	var up atomic.Bool
	e, results := newTestEngine(t, Config{MaxAttempts: 50}, nil)
	e.AddSink(flakySink(&up), SinkOptions{})
	testOnAttempt(t, e, results, &up)
	closeEngine(t, e)
}

func TestOutboxOnAttempt(t *testing.T) {
	var up atomic.Bool
	n := newTestNode(t, redistest.Prefix(t), OutboxConfig{Config: Config{MaxAttempts: 50}}, nil)
	n.AddSink(flakySink(&up), SinkOptions{})
	testOnAttempt(t, n.Engine, n.results, &up)
}

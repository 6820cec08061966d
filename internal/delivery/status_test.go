package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Both engines report a session's deliveries alike: unknown before, in
// flight while attempted, the failure of a failed attempt, the delivered
// version after.
func TestDeliveryStatus(t *testing.T) {
	engines := map[string]func(t *testing.T) Deliverer{
		"in-process": func(t *testing.T) Deliverer {
			e, _ := newTestEngine(t, Config{MaxBackoff: 300 * time.Millisecond, BaseBackoff: 300 * time.Millisecond}, nil)
			return e
		},
		"redis outbox": func(t *testing.T) Deliverer {
			return newTestNode(t, redistest.Prefix(t), OutboxConfig{
				Config: Config{MaxBackoff: 300 * time.Millisecond, BaseBackoff: 300 * time.Millisecond}}, nil)
		},
	}
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) {
			gate := make(chan struct{})
			sink := &fakeSink{name: "hook", started: make(chan *Update, 8), answer: func(u *Update, call int) (Feedback, error) {
				if call == 1 {
					return Feedback{}, &DeliveryError{Status: 503, Retryable: true, Snippet: "busy, try later"}
				}
				if call == 2 {
					<-gate
				}
				return Feedback{}, nil
			}}
			e := newEngine(t)
			e.AddSink(sink, SinkOptions{})
			status := func() DeliveryStatus {
				t.Helper()
				st, err := e.Status(context.Background(), "s1")
				if err != nil || len(st) != 1 {
					t.Fatalf("Status: %v %v", st, err)
				}
				return st[0]
			}
			if st := status(); st.Known || st.Sink != "hook" {
				t.Errorf("before anything: %+v", st)
			}
			e.Enqueue(newUpd("s1", 1, model.ChangeCart, "x"))
			<-sink.started // the failing attempt
			eventually(t, "the retry due", func() bool { return !status().NextAttemptAt.IsZero() })
			st := status()
			if !st.Known || st.PendingVersion != 1 || st.InFlight || st.Attempts != 1 ||
				st.LastError == nil || st.LastError.Status != 503 || st.LastError.Message != "busy, try later" {
				t.Errorf("waiting for the retry: %+v %+v", st, st.LastError)
			}
			<-sink.started // the retry, held
			eventually(t, "in flight", func() bool { return status().InFlight })
			e.Enqueue(newUpd("s1", 2, model.ChangeCart, "y"))
			if st := status(); st.PendingVersion != 2 || st.DeliveredVersion != 0 {
				t.Errorf("in flight with one waiting: %+v", st)
			}
			close(gate)
			eventually(t, "version 2 delivered", func() bool { return status().DeliveredVersion == 2 })
			st = status()
			if st.PendingVersion != 0 || st.InFlight || st.DeliveredAt.IsZero() || st.LastError == nil {
				t.Errorf("delivered: %+v (the last error is kept)", st)
			}
		})
	}
}

func TestDeliveryStatusState(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	fail := func(at time.Time) *DeliveryFailure { return &DeliveryFailure{Status: 500, At: at} }
	for _, tc := range []struct {
		st   DeliveryStatus
		want string
	}{
		{DeliveryStatus{}, "none"},
		{DeliveryStatus{PendingVersion: 2}, "pending"},
		{DeliveryStatus{PendingVersion: 2, Attempts: 1, LastError: fail(t0)}, "failing"},
		{DeliveryStatus{DeliveredVersion: 1, DeliveredAt: t0, LastError: fail(t0.Add(time.Second))}, "failing"},
		{DeliveryStatus{DeliveredVersion: 1, DeliveredAt: t0, Attempts: 2, LastError: fail(t0.Add(time.Second)), GivenUpAt: t0.Add(time.Second)}, "given_up"},
		{DeliveryStatus{Attempts: 8, LastError: fail(t0), GivenUpAt: t0}, "given_up"},
		{DeliveryStatus{DeliveredVersion: 2, DeliveredAt: t0.Add(time.Second), LastError: fail(t0)}, "delivered"},
		{DeliveryStatus{DeliveredVersion: 2, DeliveredAt: t0.Add(time.Second), LastError: fail(t0), PendingVersion: 3}, "pending"},
	} {
		if got := tc.st.State(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.st, got, tc.want)
		}
		b, _ := json.Marshal(tc.st)
		if !strings.Contains(string(b), `"state":"`+tc.want+`"`) {
			t.Errorf("JSON %s lacks its state %s", b, tc.want)
		}
	}
}

// Both engines say plainly that they gave an update up: state given_up,
// with the attempts made, when, and the last error; a retry or a newer
// update queues it afresh.
func TestDeliveryStatusGivenUp(t *testing.T) {
	cfg := Config{MaxAttempts: 2}
	engines := map[string]func(t *testing.T) Deliverer{
		"in-process": func(t *testing.T) Deliverer {
			e, _ := newTestEngine(t, cfg, nil)
			return e
		},
		"redis outbox": func(t *testing.T) Deliverer {
			return newTestNode(t, redistest.Prefix(t), OutboxConfig{Config: cfg}, nil)
		},
	}
	for name, newEngine := range engines {
		t.Run(name, func(t *testing.T) {
			gate := make(chan struct{})
			sink := &fakeSink{name: "hook", answer: func(u *Update, call int) (Feedback, error) {
				if call <= 4 {
					return Feedback{}, &DeliveryError{Status: 500, Retryable: true, Snippet: fmt.Sprintf("broken %d", call)}
				}
				<-gate
				return Feedback{}, nil
			}}
			e := newEngine(t)
			e.AddSink(sink, SinkOptions{})
			status := func() DeliveryStatus {
				t.Helper()
				st, err := e.Status(context.Background(), "s1")
				if err != nil || len(st) != 1 {
					t.Fatalf("Status: %v %v", st, err)
				}
				return st[0]
			}
			givenUp := func(what string, lastCall int) {
				t.Helper()
				eventually(t, what, func() bool { return status().State() == "given_up" })
				st := status()
				if st.Attempts != 2 || st.GivenUpAt.IsZero() || !st.NextAttemptAt.IsZero() || st.PendingVersion != 0 || st.InFlight ||
					st.LastError == nil || st.LastError.Status != 500 || st.LastError.Message != fmt.Sprintf("broken %d", lastCall) {
					t.Errorf("%s: %+v %+v", what, st, st.LastError)
				}
				if time.Since(st.GivenUpAt) > time.Minute || st.GivenUpAt.Before(st.LastError.At.Add(-time.Second)) {
					t.Errorf("%s: given up at %v, last error at %v", what, st.GivenUpAt, st.LastError.At)
				}
				b, _ := json.Marshal(st)
				for _, want := range []string{`"state":"given_up"`, `"attempts":2`, `"given_up_at":"`} {
					if !strings.Contains(string(b), want) {
						t.Errorf("%s: JSON %s lacks %s", what, b, want)
					}
				}
				if n := len(sink.callList()); n != lastCall {
					t.Errorf("%s: %d attempts made, want %d", what, n, lastCall)
				}
			}

			u1 := newUpd("s1", 1, model.ChangeCart, "x")
			e.Enqueue(u1)
			givenUp("given up after max_attempts", 2)

			// Retry now queues it afresh, with its attempts counted anew.
			if res, err := e.Retry(context.Background(), "hook", u1); err != nil || res != RetryQueued {
				t.Fatalf("Retry: %q %v", res, err)
			}
			givenUp("given up again after the retry", 4)

			// A later update is a fresh delivery: pending, nothing given up.
			e.Enqueue(newUpd("s1", 2, model.ChangeCart, "y"))
			eventually(t, "version 2 in flight", func() bool { return status().InFlight })
			if st := status(); st.State() != "pending" || st.PendingVersion != 2 || !st.GivenUpAt.IsZero() || st.Attempts != 1 {
				t.Errorf("a newer update in flight: %s %+v", st.State(), st)
			}
			close(gate)
			eventually(t, "version 2 delivered", func() bool { return status().DeliveredVersion == 2 })
			if st := status(); st.State() != "delivered" || !st.GivenUpAt.IsZero() || st.Attempts != 0 {
				t.Errorf("delivered after a give-up: %s %+v", st.State(), st)
			}
		})
	}
}

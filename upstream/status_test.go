package upstream

import (
	"context"
	"encoding/json"
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
		{DeliveryStatus{DeliveredVersion: 1, DeliveredAt: t0, LastError: fail(t0.Add(time.Second))}, "failing"}, // given up
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

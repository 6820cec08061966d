package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestEngineUpstreamDown(t *testing.T) {
	const queueSize, sessions, updates = 100, 1000, 10000
	for name, sink := range map[string]*fakeSink{
		"blocked": {name: "s", gate: make(chan struct{})}, // never opened
		"503": {name: "s", answer: func(*Update, int) (Feedback, error) {
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := newTestEngine(t, Config{QueueSize: queueSize, MaxAttempts: 1 << 30}, nil)
			e.AddSink(sink, SinkOptions{On: OnAction})
			q := memQueueOf(e, 0)
			done := make(chan struct{})
			var maxPending, maxKept atomic.Int64
			go func() {
				defer close(done)
				for i := range updates {
					e.Enqueue(newUpd(fmt.Sprint("s", i%sessions), uint64(i/sessions+1), model.ChangeCart))
					if i%100 == 0 {
						maxPending.Store(max(maxPending.Load(), int64(stats(e, 0).Pending)))
						maxKept.Store(max(maxKept.Load(), int64(q.known())))
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Enqueue blocked on a sink that never answers")
			}
			if maxPending.Load() > queueSize || stats(e, 0).Pending > queueSize {
				t.Fatalf("pending reached %d, queue size %d", maxPending.Load(), queueSize)
			}
			if maxKept.Load() > queueSize*(1+historyFactor) {
				t.Fatalf("%d sessions kept", maxKept.Load())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := e.Close(ctx); err == nil {
				t.Fatal("Close reported nothing left")
			}
			st := stats(e, 0)
			if sum := st.Delivered + st.Superseded + st.Dropped + st.Failed + st.Skipped + uint64(q.undelivered()); sum != updates || st.Pending == 0 {
				t.Fatalf("stats %+v do not account for %d updates", st, updates)
			}
			checkNoEngineGoroutines(t)
		})
	}
}

func TestEngineCancel(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 10),
		answer: func(*Update, int) (Feedback, error) {
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		}}
	e, results := newTestEngine(t, Config{Concurrency: 1}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	<-sink.started
	e.Enqueue(newUpd("a", 2, model.ChangeCart)) // waiting behind the one in flight
	e.Enqueue(newUpd("b", 1, model.ChangeCart)) // waiting for a slot
	e.Cancel("a")
	e.Cancel("b")
	e.Cancel("nobody")
	if st := stats(e, 0); st.Dropped != 2 || st.Pending != 1 || st.InFlight != 1 {
		t.Fatalf("after cancel: %+v", st)
	}
	close(sink.gate) // a1 fails retryably: cancelled, so not retried
	await(t, results, "s", OutcomeDropped, 3)
	closeEngine(t, e)
	if n := sink.n.Load(); n != 1 {
		t.Fatalf("%d calls, want only the one in flight at Cancel", n)
	}
	if st := stats(e, 0); st.Retried != 0 || st.Delivered != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEngineCancelDuringBackoff(t *testing.T) {
	sink := &fakeSink{name: "s", answer: func(u *Update, _ int) (Feedback, error) {
		if u.Session.Version == 1 {
			return Feedback{}, nil
		}
		return Feedback{}, &DeliveryError{Status: 503, Retryable: true, RetryAfter: time.Hour}
	}}
	e, results := newTestEngine(t, Config{MaxBackoff: time.Hour}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart, "x"))
	await(t, results, "s", OutcomeDelivered, 1)
	e.Enqueue(newUpd("a", 2, model.ChangeCart, "y"))
	await(t, results, "s", OutcomeRetried, 1)
	e.Enqueue(newUpd("a", 3, model.ChangeCart, "z"))
	e.Cancel("a")
	if st := stats(e, 0); st.Dropped != 2 || st.Pending != 0 {
		t.Fatalf("after cancel: %+v", st)
	}
	if memQueueOf(e, 0).remembers("a") {
		t.Fatal("cancelled session still remembered")
	}
	closeEngine(t, e) // nothing left: returns at once
	checkNoEngineGoroutines(t)
}

func TestEngineCloseDrains(t *testing.T) {
	sink := &fakeSink{name: "s", delay: 100 * time.Microsecond}
	e, _ := newTestEngine(t, Config{Concurrency: 4}, nil)
	e.AddSink(sink, SinkOptions{})
	for v := uint64(1); v <= 3; v++ {
		for i := range 100 {
			e.Enqueue(newUpd(fmt.Sprint("s", i), v, model.ChangeCart, fmt.Sprint(v)))
		}
	}
	closeEngine(t, e)
	st := stats(e, 0)
	if st.Pending != 0 || st.Delivered+st.Superseded != 300 {
		t.Fatalf("stats %+v", st)
	}
	for i := range 100 {
		if vs := sink.versions(fmt.Sprint("s", i)); vs[len(vs)-1] != 3 {
			t.Fatalf("s%d got %v", i, vs)
		}
	}
	e.Enqueue(newUpd("late", 1, model.ChangeCart))
	if got := stats(e, 0).Dropped; got != 1 {
		t.Fatalf("enqueue after close: dropped %d", got)
	}
	closeEngine(t, e) // idempotent
	checkNoEngineGoroutines(t)
}

func TestEngineCloseTimesOut(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	sink := &fakeSink{name: "s", gate: make(chan struct{})} // never opened
	e, _ := newTestEngine(t, Config{Concurrency: 2}, zap.New(core))
	e.AddSink(sink, SinkOptions{})
	for i := range 20 {
		e.Enqueue(newUpd(fmt.Sprint("s", i), 1, model.ChangeCart))
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := e.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("Close = %v after %v", err, time.Since(start))
	}
	stopped := logs.FilterMessage("sink stopped").All()
	if len(stopped) != 1 || stopped[0].ContextMap()["undelivered_sessions"] != int64(20) {
		t.Fatalf("stop log lines %v", stopped)
	}
	if err2 := e.Close(context.Background()); err2 != err {
		t.Fatalf("second Close = %v, want %v", err2, err)
	}
	checkNoEngineGoroutines(t)
}

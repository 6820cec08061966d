package delivery

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestEngineOneSessionInOrder(t *testing.T) {
	sink := &fakeSink{name: "slow", delay: 2 * time.Millisecond}
	e, _ := newTestEngine(t, Config{Concurrency: 8}, nil)
	e.AddSink(sink, SinkOptions{On: OnAction})
	for v := uint64(1); v <= 100; v++ {
		e.Enqueue(newUpd("s1", v, model.ChangeCart, fmt.Sprint(v)))
	}
	closeEngine(t, e)

	vs := sink.versions("s1")
	if !strictlyIncreasing(vs) || vs[len(vs)-1] != 100 {
		t.Fatalf("versions delivered: %v", vs)
	}
	if sink.overlap.Load() {
		t.Fatal("two deliveries of one session at once")
	}
	if len(vs) >= 50 {
		t.Fatalf("%d calls for 100 rapid updates: not coalesced", len(vs))
	}
	st := stats(e, 0)
	if int(st.Delivered) != len(vs) || st.Delivered+st.Superseded != 100 {
		t.Fatalf("stats %+v for %d calls", st, len(vs))
	}
}

func TestEngineConcurrentEnqueue(t *testing.T) {
	const goroutines, sessions, perG = 8, 50, 10
	sink := &fakeSink{name: "s", delay: 100 * time.Microsecond}
	e, _ := newTestEngine(t, Config{Concurrency: 4}, nil)
	e.AddSink(sink, SinkOptions{On: OnAction})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for k := range perG {
				for s := range sessions {
					e.Enqueue(newUpd(fmt.Sprint("s", s), uint64(k*goroutines+g+1), model.ChangeCart))
				}
			}
		})
	}
	wg.Wait()
	closeEngine(t, e)
	for s := range sessions {
		vs := sink.versions(fmt.Sprint("s", s))
		if !strictlyIncreasing(vs) || vs[len(vs)-1] != goroutines*perG {
			t.Fatalf("session %d got %v", s, vs)
		}
	}
	if sink.overlap.Load() {
		t.Fatal("two deliveries of one session at once")
	}
	if st := stats(e, 0); st.Delivered+st.Superseded != goroutines*sessions*perG {
		t.Fatalf("stats %+v", st)
	}
}

func TestEngineCoalesces(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 10)}
	e, results := newTestEngine(t, Config{Concurrency: 1}, nil)
	e.AddSink(sink, SinkOptions{On: OnAction})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	<-sink.started
	for v := uint64(2); v <= 100; v++ {
		e.Enqueue(newUpd("a", v, model.ChangeCart))
	}
	if st := stats(e, 0); st.Superseded != 98 || st.Pending != 1 || st.InFlight != 1 {
		t.Fatalf("while blocked: %+v", st)
	}
	close(sink.gate)
	await(t, results, "s", OutcomeDelivered, 2)
	e.Enqueue(newUpd("a", 50, model.ChangeCart))  // older than delivered
	e.Enqueue(newUpd("a", 100, model.ChangeCart)) // a duplicate
	closeEngine(t, e)
	if vs := sink.versions("a"); fmt.Sprint(vs) != "[1 100]" {
		t.Fatalf("delivered %v, want [1 100]", vs)
	}
	if st := stats(e, 0); st.Delivered != 2 || st.Superseded != 100 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEngineOnChangeSkipsUnchanged(t *testing.T) {
	change := &fakeSink{name: "change"}
	action := &fakeSink{name: "action"}
	e, results := newTestEngine(t, Config{Concurrency: 1}, nil)
	e.AddSink(change, SinkOptions{}) // On defaults to change
	e.AddSink(action, SinkOptions{On: OnAction})

	withEmail := newUpd("s", 5, model.ChangeCustomer, "b")
	withEmail.Session.Customer.Email = "x@example.com"
	steps := []struct {
		u          *Update
		wantChange string
	}{
		{newUpd("s", 1, model.ChangeCart|model.ChangeAction, "a"), OutcomeDelivered},
		{newUpd("s", 2, model.ChangeAction, "a"), OutcomeSkipped}, // a page view
		{newUpd("s", 3, model.ChangeCart, "a"), OutcomeSkipped},   // the same cart again
		{newUpd("s", 4, model.ChangeCart, "b"), OutcomeDelivered},
		{withEmail, OutcomeDelivered},
	}
	for _, step := range steps {
		e.Enqueue(step.u)
		await(t, results, "change", step.wantChange, 1)
		await(t, results, "action", OutcomeDelivered, 1)
	}
	closeEngine(t, e)
	if vs := change.versions("s"); fmt.Sprint(vs) != "[1 4 5]" {
		t.Fatalf("change sink got %v", vs)
	}
	if vs := action.versions("s"); fmt.Sprint(vs) != "[1 2 3 4 5]" {
		t.Fatalf("action sink got %v", vs)
	}
	if st := stats(e, 0); st.Skipped != 2 || st.Delivered != 3 {
		t.Fatalf("change stats %+v", st)
	}
	if st := stats(e, 1); st.Skipped != 0 || st.Delivered != 5 {
		t.Fatalf("action stats %+v", st)
	}
}

func TestEngineFingerprintsBounded(t *testing.T) {
	sink := &fakeSink{name: "s"}
	e, results := newTestEngine(t, Config{QueueSize: 1, Concurrency: 1}, nil)
	e.AddSink(sink, SinkOptions{On: OnChange})
	for i := range 10 {
		e.Enqueue(newUpd(fmt.Sprint("s", i), 1, model.ChangeCart, "a"))
		await(t, results, "s", OutcomeDelivered, 1)
	}
	kept := memQueueOf(e, 0).known()
	if kept > 1+historyFactor*1 {
		t.Fatalf("%d sessions remembered, want at most %d", kept, 1+historyFactor)
	}
	e.Enqueue(newUpd("s9", 2, model.ChangeCart, "a")) // remembered: skipped
	await(t, results, "s", OutcomeSkipped, 1)
	e.Enqueue(newUpd("s0", 2, model.ChangeCart, "a")) // forgotten: sent again
	await(t, results, "s", OutcomeDelivered, 1)
	closeEngine(t, e)
}

func TestEngineConcurrencyBound(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 100)}
	e, _ := newTestEngine(t, Config{Concurrency: 4}, nil)
	e.AddSink(sink, SinkOptions{})
	for i := range 50 {
		e.Enqueue(newUpd(fmt.Sprint("s", i), 1, model.ChangeCart))
	}
	for range 4 {
		<-sink.started
	}
	if st := stats(e, 0); st.InFlight != 4 || st.Pending != 50 {
		t.Fatalf("while blocked: %+v", st)
	}
	close(sink.gate)
	closeEngine(t, e)
	if m := sink.max.Load(); m != 4 {
		t.Fatalf("%d concurrent deliveries, want 4", m)
	}
	if st := stats(e, 0); st.Delivered != 50 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEngineServesSessionsFairly(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 10)}
	e, _ := newTestEngine(t, Config{Concurrency: 1}, nil)
	e.AddSink(sink, SinkOptions{On: OnAction})
	e.Enqueue(newUpd("busy", 1, model.ChangeCart))
	<-sink.started
	e.Enqueue(newUpd("busy", 2, model.ChangeCart))
	e.Enqueue(newUpd("b", 1, model.ChangeCart))
	e.Enqueue(newUpd("c", 1, model.ChangeCart))
	e.Enqueue(newUpd("busy", 3, model.ChangeCart))
	close(sink.gate)
	closeEngine(t, e)
	var order []string
	for _, c := range sink.callList() {
		order = append(order, fmt.Sprint(c.id, c.version))
	}
	if got := strings.Join(order, " "); got != "busy1 b1 c1 busy3" {
		t.Fatalf("order %q, want busy1 b1 c1 busy3", got)
	}
}

func TestEngineOverflow(t *testing.T) {
	sink := &fakeSink{name: "s", gate: make(chan struct{}), started: make(chan *Update, 100)}
	e, _ := newTestEngine(t, Config{QueueSize: 10, Concurrency: 1}, nil)
	e.AddSink(sink, SinkOptions{})
	for i := range 100 {
		e.Enqueue(newUpd(fmt.Sprint("s", i), 1, model.ChangeCart))
	}
	st := stats(e, 0)
	if st.Dropped != 90 || st.Pending != 10 {
		t.Fatalf("after 100 sessions: %+v", st)
	}
	e.Enqueue(newUpd("s5", 2, model.ChangeCart))  // held: its newest replaces
	e.Enqueue(newUpd("s50", 2, model.ChangeCart)) // not held: dropped
	st = stats(e, 0)
	if st.Dropped != 91 || st.Superseded != 1 || st.Pending != 10 {
		t.Fatalf("after more: %+v", st)
	}
	close(sink.gate)
	closeEngine(t, e)
	if st := stats(e, 0); st.Delivered != 10 {
		t.Fatalf("stats %+v", st)
	}
	if vs := sink.versions("s5"); fmt.Sprint(vs) != "[2]" {
		t.Fatalf("s5 got %v", vs)
	}
}

func TestEngineFeedback(t *testing.T) {
	sink := &fakeSink{name: "emporix", answer: func(u *Update, _ int) (Feedback, error) {
		if u.Session.Version == 1 {
			return Feedback{ContextVersion: 7}, nil
		}
		return Feedback{}, nil
	}}
	type got struct {
		sink string
		u    *Update
		fb   Feedback
	}
	feedback := make(chan got, 10)
	e, results := newTestEngine(t, Config{}, nil)
	e.OnFeedback(func(sink string, u *Update, fb Feedback) { feedback <- got{sink, u, fb} })
	e.AddSink(sink, SinkOptions{})
	u1 := newUpd("a", 1, model.ChangeCart, "x")
	e.Enqueue(u1)
	await(t, results, "emporix", OutcomeDelivered, 1)
	e.Enqueue(newUpd("a", 2, model.ChangeCart, "y"))
	await(t, results, "emporix", OutcomeDelivered, 1)
	closeEngine(t, e)
	close(feedback)
	var all []got
	for g := range feedback {
		all = append(all, g)
	}
	if len(all) != 1 || all[0].sink != "emporix" || all[0].u.Session.ID != u1.Session.ID ||
		all[0].u.Session.Version != 1 || all[0].fb.ContextVersion != 7 {
		t.Fatalf("feedback %+v", all)
	}
}

func TestEngineSinkPanics(t *testing.T) {
	sink := &fakeSink{name: "s", answer: func(*Update, int) (Feedback, error) { panic("boom") }}
	e, results := newTestEngine(t, Config{MaxAttempts: 2}, nil)
	e.AddSink(sink, SinkOptions{})
	e.Enqueue(newUpd("a", 1, model.ChangeCart))
	await(t, results, "s", OutcomeFailed, 1)
	closeEngine(t, e)
}

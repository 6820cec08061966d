package feed

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func event(v uint64) Event { return Event{SessionID: fmt.Sprint("s", v), Version: v} }

func versions(es []Event) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Version
	}
	return out
}

func TestRingKeepsTheNewestInOrder(t *testing.T) {
	r := NewRing(3)
	if got, _ := r.Recent(context.Background(), 10); len(got) != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	for v := uint64(1); v <= 5; v++ {
		r.Publish(event(v))
	}
	got, _ := r.Recent(context.Background(), 10)
	if fmt.Sprint(versions(got)) != "[3 4 5]" {
		t.Fatalf("recent %v, want [3 4 5]", versions(got))
	}
	got, _ = r.Recent(context.Background(), 2)
	if fmt.Sprint(versions(got)) != "[4 5]" {
		t.Fatalf("recent 2: %v, want [4 5]", versions(got))
	}
}

func TestRingSubscribersGetNewEventsAndSlowOnesLose(t *testing.T) {
	r := NewRing(10)
	r.Publish(event(1))
	ch, cancel := r.Subscribe()
	defer cancel()
	r.Publish(event(2))
	select {
	case e := <-ch:
		if e.Version != 2 {
			t.Fatalf("got version %d, want 2 (1 was published before)", e.Version)
		}
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	for v := range uint64(subscriberBuffer + 5) {
		r.Publish(event(v + 3)) // never blocks, whoever reads
	}
	if d := r.Dropped(); d != 5 {
		t.Fatalf("dropped %d, want 5", d)
	}
	cancel()
	r.Publish(event(999))
	if len(ch) != subscriberBuffer {
		t.Fatalf("an ended subscription got more: %d queued", len(ch))
	}
}

// An erased session leaves the ring; the others keep their order, and the
// ring goes on taking events.
func TestRingForgetsASession(t *testing.T) {
	r := NewRing(4)
	for v := uint64(1); v <= 6; v++ {
		e := event(v)
		if v%2 == 0 {
			e.SessionID = "erased"
		}
		r.Publish(e)
	}
	if err := r.Forget(context.Background(), "erased"); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Recent(context.Background(), 10)
	if fmt.Sprint(versions(got)) != "[3 5]" {
		t.Fatalf("after forgetting: %v, want [3 5]", versions(got))
	}
	for v := uint64(7); v <= 9; v++ {
		r.Publish(event(v))
	}
	if got, _ = r.Recent(context.Background(), 10); fmt.Sprint(versions(got)) != "[5 7 8 9]" {
		t.Fatalf("then: %v, want [5 7 8 9]", versions(got))
	}
}

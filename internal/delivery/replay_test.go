package delivery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// sliceSource is a store of n sessions written one millisecond apart,
// listed in pages as the stores do.
type sliceSource struct {
	mu       sync.Mutex
	sessions map[string]*model.Session
	ids      []string
}

func newSliceSource(n int, start time.Time) *sliceSource {
	s := &sliceSource{sessions: map[string]*model.Session{}}
	for i := range n {
		id := fmt.Sprintf("r%04d", i)
		s.sessions[id] = &model.Session{ID: id, Version: 3, CreatedAt: start, UpdatedAt: start.Add(time.Duration(i) * time.Millisecond),
			Cart: model.Cart{Items: []model.CartItem{{ProductID: "p", Quantity: i + 1}}}}
		s.ids = append(s.ids, id)
	}
	sort.Strings(s.ids)
	return s
}

func (s *sliceSource) Page(_ context.Context, since, until time.Time, cursor string, n int) ([]ReplayEntry, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if cursor != "" {
		i = sort.SearchStrings(s.ids, cursor) + 1
	}
	var out []ReplayEntry
	for ; i < len(s.ids) && len(out) < n; i++ {
		if at := s.sessions[s.ids[i]].UpdatedAt; !at.Before(since) && !at.After(until) {
			out = append(out, ReplayEntry{ID: s.ids[i], Cursor: s.ids[i]})
		}
	}
	if i >= len(s.ids) {
		return out, "", nil
	}
	return out, s.ids[i-1], nil
}

func (s *sliceSource) Get(_ context.Context, id string) (*model.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.sessions[id]; ok {
		c := *v
		return &c, nil
	}
	return nil, nil
}

// A sink added after 1,000 sessions were written gets every one of them
// from a replay, and those written before since none: on every backend.
func TestContractReplayReachesALateSink(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		start := time.Now().Add(-time.Hour)
		src := newSliceSource(1100, start)
		since := start.Add(100 * time.Millisecond) // the first 100 are older
		d, _ := b(t, Config{Concurrency: 8})
		e := d.(*Engine)
		sink := &fakeSink{name: "late"}
		e.AddSink(sink, SinkOptions{})
		e.SetReplaySource(src)
		if _, err := e.Replay(context.Background(), "late", since); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Replay(context.Background(), "late", since); !errors.Is(err, ErrReplayRunning) {
			t.Errorf("a second replay while one runs: %v", err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, _ := e.ReplayStatus(context.Background(), "late")
			if st.State == ReplayDone && len(delivered(sink)) == 1000 {
				if st.Queued != 1000 {
					t.Errorf("status: %+v", st)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20s: %+v, %d sessions delivered", st, len(delivered(sink)))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for id := range delivered(sink) {
			if id < "r0100" {
				t.Errorf("%s, written before since, was replayed", id)
			}
		}
	})
}

// With Redis, a replay whose node stops is taken over by another node,
// from where it was: every session arrives.
func TestOutboxReplayResumesOnAnotherNode(t *testing.T) {
	prefix := redistest.Prefix(t)
	src := newSliceSource(1000, time.Now().Add(-time.Hour))
	sink := &fakeSink{name: "late", delay: 2 * time.Millisecond}
	old := replayLease
	replayLease = time.Second
	t.Cleanup(func() { replayLease = old })
	a := newTestNode(t, prefix, OutboxConfig{Config: Config{Concurrency: 4}}, nil)
	a.AddSink(sink, SinkOptions{})
	a.SetReplaySource(src)
	if _, err := a.Replay(context.Background(), "late", time.Time{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay under way", func() bool { st, _ := a.ReplayStatus(context.Background(), "late"); return st.Queued > 0 })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := a.ReplayStatus(context.Background(), "late")
	if st.State != ReplayRunning || st.Queued >= 1000 {
		t.Fatalf("the first node finished the replay before it stopped: %+v", st)
	}
	b := newTestNode(t, prefix, OutboxConfig{Config: Config{Concurrency: 4}}, nil)
	b.AddSink(sink, SinkOptions{})
	b.SetReplaySource(src)
	deadline := time.Now().Add(30 * time.Second)
	for len(delivered(sink)) < 1000 {
		if time.Now().After(deadline) {
			st, _ := b.ReplayStatus(context.Background(), "late")
			t.Fatalf("after 30s %d sessions delivered; %+v", len(delivered(sink)), st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delivered is the sessions the sink got, by id.
func delivered(f *fakeSink) map[string]bool {
	out := map[string]bool{}
	for _, c := range f.callList() {
		out[c.id] = true
	}
	return out
}

// A queue smaller than a batch loses nothing: a replay queues what there
// is room for, and the rest as the sink takes them.
func TestReplayIntoASmallQueueLosesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b queueBackend) {
		src := newSliceSource(300, time.Now().Add(-time.Hour))
		d, _ := b(t, Config{Concurrency: 2, QueueSize: 50})
		e := d.(*Engine)
		sink := &fakeSink{name: "small", delay: time.Millisecond}
		e.AddSink(sink, SinkOptions{})
		e.SetReplaySource(src)
		if _, err := e.Replay(context.Background(), "small", time.Time{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, _ := e.ReplayStatus(context.Background(), "small")
			if st.State == ReplayDone && len(delivered(sink)) == 300 {
				if st.Queued != 300 || e.Stats()[0].Dropped != 0 {
					t.Errorf("status %+v, %d dropped", st, e.Stats()[0].Dropped)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30s: %+v, %d of 300 delivered", st, len(delivered(sink)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

package inspector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/feed"
)

// The live list's pacing: events are sent in batches, one row per
// session, so that a busy shop costs a viewer a bounded number of status
// lookups (and the page a bounded number of rows) per second.
const (
	batchEvery   = 250 * time.Millisecond
	batchMax     = 50  // sessions per batch; the rest of a burst is skipped
	recentEvents = 200 // sent when the list opens
	keepAlive    = 15 * time.Second
)

// Row is one session in the live list: its latest change and, per sink,
// where its delivery stands.
type Row struct {
	feed.Event
	Sinks []SinkState `json:"sinks"`
}

// SinkState is a sink's delivery of the session in one word
// (delivery.DeliveryStatus.State).
type SinkState struct {
	Sink  string `json:"sink"`
	State string `json:"state"`
}

// events streams the live list: the recent changes, then each new one,
// until the client goes or its sign-in expires.
func (in *Inspector) events(w http.ResponseWriter, r *http.Request, g grant) {
	rc := http.NewResponseController(w)
	// A client that stops reading must not hold the stream (and its
	// subscription) past a write's deadline, nor past its sign-in.
	w = &deadlineWriter{ResponseWriter: w, rc: rc, end: g.expires}
	ch, unsubscribe := in.cfg.Feed.Subscribe()
	defer unsubscribe()
	ctx, cancel := context.WithDeadline(r.Context(), g.expires)
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	recent, _ := in.cfg.Feed.Recent(ctx, recentEvents)
	if err := in.send(ctx, w, rc, recent, 0); err != nil {
		return
	}
	tick := time.NewTicker(batchEvery)
	defer tick.Stop()
	idle := time.NewTimer(keepAlive)
	defer idle.Stop()
	var batch []feed.Event
	skipped := 0
	for {
		select {
		case <-ctx.Done():
			// Expired sign-ins end here; the page reconnects and is refused.
			return
		case e := <-ch:
			if len(batch) < 4*batchMax {
				batch = append(batch, e)
			} else {
				skipped++
			}
		case <-tick.C:
			if len(batch) == 0 && skipped == 0 {
				continue
			}
			if err := in.send(ctx, w, rc, batch, skipped); err != nil {
				return
			}
			batch, skipped = batch[:0], 0
			idle.Reset(keepAlive)
		case <-idle.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			idle.Reset(keepAlive)
		}
	}
}

// send writes one "rows" event: the newest change of each session in es
// (at most batchMax sessions, newest kept) with its delivery states.
func (in *Inspector) send(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, es []feed.Event, skipped int) error {
	rows, attempted := latestPerSession(es)
	if len(rows) > batchMax {
		skipped += len(rows) - batchMax
		rows = rows[len(rows)-batchMax:]
	}
	// Rows first: a burst of deliveries may take what is left of the batch.
	attempted = attempted[:min(len(attempted), batchMax-len(rows))]
	if rows == nil {
		rows = []Row{}
	}
	for i := range rows {
		rows[i].Sinks = in.sinkStates(ctx, rows[i].SessionID)
	}
	states := make([]SinkStates, len(attempted))
	for i, id := range attempted {
		states[i] = SinkStates{SessionID: id, Sinks: in.sinkStates(ctx, id)}
	}
	b, err := json.Marshal(RowsEvent{Rows: rows, Sinks: states, Skipped: skipped})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: rows\ndata: %s\n\n", b); err != nil {
		return err
	}
	return rc.Flush()
}

// writeTimeout bounds each write of the stream.
const writeTimeout = 10 * time.Second

// deadlineWriter sets a write deadline before each write.
type deadlineWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	end time.Time
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	deadline := time.Now().Add(writeTimeout)
	if d.end.Before(deadline) {
		deadline = d.end
	}
	_ = d.rc.SetWriteDeadline(deadline) // not every writer has deadlines
	return d.ResponseWriter.Write(b)
}

// latestPerSession keeps each session's newest change, in feed order, and
// lists the sessions that only had delivery attempts: their rows need
// new sink states, not new data.
func latestPerSession(es []feed.Event) (rows []Row, attempted []string) {
	last := make(map[string]int, len(es))
	for i, e := range es {
		if e.Kind == feed.KindChange {
			last[e.SessionID] = i
		}
	}
	seen := map[string]bool{}
	for i, e := range es {
		switch {
		case e.Kind == feed.KindChange && last[e.SessionID] == i:
			rows = append(rows, Row{Event: e})
		case e.Kind == feed.KindDelivery && !seen[e.SessionID]:
			seen[e.SessionID] = true
			if _, changed := last[e.SessionID]; !changed {
				attempted = append(attempted, e.SessionID)
			}
		}
	}
	return rows, attempted
}

// SinkStates are a session's sink states, sent when only they moved.
type SinkStates struct {
	SessionID string      `json:"session_id"`
	Sinks     []SinkState `json:"sinks"`
}

func (in *Inspector) sinkStates(ctx context.Context, id string) []SinkState {
	out := []SinkState{}
	if in.cfg.Deliveries == nil {
		return out
	}
	sts, err := in.cfg.Deliveries(ctx, id)
	if err != nil {
		return append(out, SinkState{Sink: "*", State: "unknown"})
	}
	for _, st := range sts {
		out = append(out, SinkState{Sink: st.Sink, State: st.State()})
	}
	return out
}

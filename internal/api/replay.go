package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/respond"
)

// ReplayFuncs start and read replays to a sink (delivery.Engine.Replay).
type ReplayFuncs struct {
	// Start queues to sink the current state of every session written
	// since since; ErrReplayRunning when one runs, ErrUnknownSink.
	Start func(ctx context.Context, sink string, since time.Time) (any, error)
	// Status reads sink's replay.
	Status func(ctx context.Context, sink string) (any, error)
}

// Errors a ReplayFuncs may return, answered 409 and 404.
var (
	ErrReplayRunning = errors.New("a replay to this sink is running")
	ErrUnknownSink   = errors.New("no such sink")
)

// replay serves {prefix}/sinks/{name}/replay: POST ?since=<RFC 3339 time>
// starts a replay (202), GET reads its progress.
func (a *API) replay(w http.ResponseWriter, r *http.Request, rest string) {
	sink, ok := strings.CutSuffix(rest, "/replay")
	if !ok || sink == "" || strings.Contains(sink, "/") {
		respond.Error(w, http.StatusNotFound, "no such API route")
		return
	}
	if a.replays.Start == nil {
		respond.Error(w, http.StatusNotFound, "no sinks are configured")
		return
	}
	var st any
	var err error
	status := http.StatusOK
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, err = a.replays.Status(r.Context(), sink)
	case http.MethodPost:
		since, perr := time.Parse(time.RFC3339, r.URL.Query().Get("since"))
		if perr != nil {
			respond.Error(w, http.StatusBadRequest, "since: give a time as 2026-12-01T00:00:00Z (RFC 3339)")
			return
		}
		if time.Until(since) > time.Minute {
			respond.Error(w, http.StatusBadRequest, "since: the time is in the future")
			return
		}
		st, err = a.replays.Start(r.Context(), sink, since)
		status = http.StatusAccepted
	default:
		respond.MethodNotAllowed(w, "GET, POST")
		return
	}
	switch {
	case errors.Is(err, ErrUnknownSink):
		respond.Error(w, http.StatusNotFound, "no sink named "+sink)
	case errors.Is(err, ErrReplayRunning):
		respond.JSON(w, http.StatusConflict, st)
	case err != nil:
		a.storeError(w, err, "replay failed", nil)
	default:
		respond.JSON(w, status, st)
	}
}

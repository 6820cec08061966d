package inspector

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/api"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func (in *Inspector) summary(w http.ResponseWriter, r *http.Request) {
	var s any = struct{}{}
	if in.cfg.Summary != nil {
		s = in.cfg.Summary(r.Context())
	}
	respond.JSON(w, http.StatusOK, SummaryAnswer{Summary: s, FeedDropped: in.cfg.Feed.Dropped()})
}

// SearchHit is a session a search found.
type SearchHit struct {
	SessionID string         `json:"session_id"`
	Version   uint64         `json:"version"`
	PageType  model.PageType `json:"page_type,omitempty"`
	// Match says what matched: "session" (the id or cookie value) or
	// "customer" (the reference, whose pseudonym RefHash is).
	Match   string `json:"match"`
	RefHash string `json:"ref_hash,omitempty"`
}

// search finds sessions by id (bare or our cookie's value) or customer
// reference. The query comes in the body, so that a reference never
// lands in a URL, an access log or the browser's history.
func (in *Inspector) search(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Query string `json:"query"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&q); err != nil || q.Query == "" {
		respond.Error(w, http.StatusBadRequest, "query: a session id, cookie value or customer reference is required")
		return
	}
	hits := []SearchHit{}
	if id := model.OperatorID(q.Query); model.ValidID(id) {
		s, err := in.cfg.Store.Get(r.Context(), id)
		if err == nil {
			hits = append(hits, SearchHit{SessionID: s.ID, Version: s.Version, PageType: s.PageType, Match: "session"})
		} else if !errors.Is(err, cache.ErrNotFound) {
			in.storeFailed(w, err)
			return
		}
	}
	linked, err := in.cfg.Store.Linked(r.Context(), q.Query)
	if err != nil {
		in.storeFailed(w, err)
		return
	}
	for _, s := range linked {
		h := SearchHit{SessionID: s.ID, Version: s.Version, PageType: s.PageType, Match: "customer"}
		if in.cfg.RefHash != nil {
			h.RefHash = in.cfg.RefHash(q.Query)
		}
		hits = append(hits, h)
	}
	respond.JSON(w, http.StatusOK, SearchAnswer{Sessions: hits})
}

func (in *Inspector) storeFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, cache.ErrUnavailable) {
		respond.Unavailable(w, "the session store is unavailable; try again later")
		return
	}
	in.logger.Error("inspector: the session store failed", zap.Error(err))
	respond.Error(w, http.StatusInternalServerError, "the session store failed")
}

// retry serves POST sessions/{id}/retry?sink=NAME.
func (in *Inspector) retry(w http.ResponseWriter, r *http.Request, id string) {
	id = model.OperatorID(id)
	sink := r.URL.Query().Get("sink")
	if !model.ValidID(id) || sink == "" {
		respond.Error(w, http.StatusBadRequest, "sink: the sink to retry is required, as ?sink=NAME")
		return
	}
	if in.cfg.Retry == nil {
		respond.Error(w, http.StatusNotFound, "no sinks are configured")
		return
	}
	res, err := in.cfg.Retry(r.Context(), id, sink)
	switch {
	case err == nil:
		in.logger.Info("delivery retried from the inspector", zap.String("session_id", id), zap.String("sink", sink), zap.String("result", res))
		respond.JSON(w, http.StatusOK, map[string]string{"result": res})
	case errors.Is(err, cache.ErrNotFound):
		respond.Error(w, http.StatusNotFound, "session not found")
	case errors.Is(err, delivery.ErrUnknownSink):
		respond.Error(w, http.StatusBadRequest, "sink: no sink is named "+sink)
	case errors.Is(err, delivery.ErrNoConsent):
		respond.Error(w, http.StatusConflict, err.Error())
	case errors.Is(err, delivery.ErrQueueFull), errors.Is(err, delivery.ErrClosed):
		respond.Unavailable(w, err.Error()+"; try again later")
	default:
		in.storeFailed(w, err)
	}
}

// replay serves sinks/{name}/replay: POST ?since=<RFC 3339 time> starts a
// replay to the sink, GET reads its progress.
func (in *Inspector) replay(w http.ResponseWriter, r *http.Request, sink string) {
	if in.cfg.Replay == nil {
		respond.Error(w, http.StatusNotFound, "no sinks are configured")
		return
	}
	var st any
	var err error
	switch r.Method {
	case http.MethodGet:
		st, err = in.cfg.ReplayStatus(r.Context(), sink)
	case http.MethodPost:
		since, perr := time.Parse(time.RFC3339, r.URL.Query().Get("since"))
		if perr != nil {
			respond.Error(w, http.StatusBadRequest, "since: give a time as 2026-12-01T00:00:00Z")
			return
		}
		if st, err = in.cfg.Replay(r.Context(), sink, since); err == nil {
			in.logger.Info("replay started from the inspector", zap.String("sink", sink), zap.Time("since", since))
		}
	default:
		respond.MethodNotAllowed(w, "GET, POST")
		return
	}
	switch {
	case err == nil:
		respond.JSON(w, http.StatusOK, st)
	case errors.Is(err, api.ErrUnknownSink):
		respond.Error(w, http.StatusNotFound, "no sink is named "+sink)
	case errors.Is(err, api.ErrReplayRunning):
		respond.Error(w, http.StatusConflict, "a replay to "+sink+" is running")
	default:
		in.storeFailed(w, err)
	}
}

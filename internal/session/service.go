// Package session is the one way sessions are written: a write applies
// its change through the store's atomic update, records the history
// entry and publishes the change, once, whoever makes it (the visitor's
// collect and capture, the session-context API, an upstream's feedback).
// An erasure deletes the session and publishes that. What follows a
// write (delivery, the live feed, metrics) subscribes to what is
// published; no writer tells anyone itself.
package session

import (
	"context"
	"errors"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Service writes one store's sessions.
type Service struct {
	store cache.Store
	// History is how many changes a session keeps, asked at each write.
	history func() int
	// publish is given every write that changed a session.
	publish func(context.Context, model.SessionChange)
	// erased is given the id of every session erased.
	erased func(id string)
	relay  string
	now    func() time.Time
}

// Config is a Service's wiring; every func may be nil.
type Config struct {
	// History is how many changes a session keeps (nil: the default).
	History func() int
	// Publish is given every write that changed a session, with the
	// writer's context. It must not block.
	Publish func(context.Context, model.SessionChange)
	// Erased is given the id of every session erased.
	Erased func(id string)
	// Relay, when set, names the write log that the store marks each
	// write in (cache.WithRelay), so that what Publish leads to survives
	// the process.
	Relay string
	// Now is the clock of history entries (nil: time.Now).
	Now func() time.Time
}

// New is the service over store.
func New(store cache.Store, cfg Config) *Service {
	s := &Service{store: store, history: cfg.History, publish: cfg.Publish, erased: cfg.Erased, relay: cfg.Relay, now: cfg.Now}
	if s.history == nil {
		s.history = func() int { return model.DefaultMaxHistory }
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Change applies a change to a session and says what it changed: 0 for a
// write that changes nothing a history records (it is stored all the
// same), or cache.ErrNoChange for no write at all. A distributed store may
// call it again after a conflict.
type Change func(s *model.Session) (model.Change, error)

// Write applies change to session id, made from src on path ("" for
// none); a write that changed something is recorded in the session's
// history and published. It returns the session as stored and the change
// (zero when nothing changed).
func (v *Service) Write(ctx context.Context, id string, src model.Source, path string, change Change) (*model.Session, model.SessionChange, error) {
	var entry model.HistoryEntry
	if v.relay != "" {
		ctx = cache.WithRelay(ctx, v.relay)
	}
	s, err := v.store.Update(ctx, id, func(s *model.Session) error {
		entry = model.HistoryEntry{} // a retried call starts afresh
		changed, err := change(s)
		// A write published to nobody is relayed to nobody.
		cache.RelayNone(ctx, changed == 0)
		if err != nil || changed == 0 {
			return err
		}
		// The store sets the version and time after this: the entry takes
		// the ones this write will get.
		entry = s.Record(model.HistoryEntry{Version: s.Version + 1, At: v.now().UTC(), Source: src, Changes: changed, Path: path}, v.history())
		return nil
	})
	if err != nil {
		return nil, model.SessionChange{}, err
	}
	if entry.Version == 0 || entry.Version != s.Version {
		return s, model.SessionChange{}, nil // nothing changed (or ErrNoChange)
	}
	c := model.SessionChange{Session: s, Entry: entry}
	if v.publish != nil {
		v.publish(ctx, c)
	}
	return s, c, nil
}

// Erase deletes session id and publishes that it is gone: also when it
// was gone already (cache.ErrNotFound, returned), so that what it left
// waiting (deliveries, feed entries) goes too.
func (v *Service) Erase(ctx context.Context, id string) error {
	err := v.store.Delete(ctx, id)
	if (err == nil || errors.Is(err, cache.ErrNotFound)) && v.erased != nil {
		v.erased(id)
	}
	return err
}

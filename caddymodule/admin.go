package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/respond"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// AdminAPI serves sessiontap's figures and sessions on Caddy's admin
// endpoint:
//
//	GET /sessiontap/stats                       stores, delivery engines, capture counters
//	GET /sessiontap/sessions/{id}?store=<name>  one session (store: the one in use, else "default")
//
// It adds no access control of its own: the admin endpoint is Caddy's,
// which listens on localhost:2019 by default and checks Host and Origin;
// whoever can reach it can also replace the whole config. Do not expose it.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information. Caddy loads every
// admin.api.* module with its admin endpoint; it needs no config.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sessiontap",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/sessiontap/stats", Handler: caddy.AdminHandlerFunc(a.handleStats)},
		{Pattern: "/sessiontap/sessions/", Handler: caddy.AdminHandlerFunc(a.handleSession)},
	}
}

// AdminStats is the answer of GET /sessiontap/stats.
type AdminStats struct {
	Stores  []StoreStats  `json:"stores"`
	Engines []EngineStats `json:"engines"`
	// Capture sums the handlers of the running config; CaptureSinceStart
	// adds those of replaced configs (as the Prometheus counters do).
	Capture           CaptureTotals `json:"capture"`
	CaptureSinceStart CaptureTotals `json:"capture_since_start"`
}

// StoreStats are one pooled store's figures.
type StoreStats struct {
	Name string `json:"name"`
	cache.Stats
}

// EngineStats are one delivery engine's sinks. Store names the session
// store the engine writes feedback to.
type EngineStats struct {
	Store string      `json:"store,omitempty"`
	Sinks []SinkStats `json:"sinks"`
}

// SinkStats are delivery.SinkStats with JSON names.
type SinkStats struct {
	Name       string `json:"name"`
	Pending    int    `json:"pending"`
	InFlight   int    `json:"in_flight"`
	Delivered  uint64 `json:"delivered"`
	Retried    uint64 `json:"retried"`
	Superseded uint64 `json:"superseded"`
	Dropped    uint64 `json:"dropped"`
	Failed     uint64 `json:"failed"`
	Skipped    uint64 `json:"skipped"`
}

func sinkStatsOf(s delivery.SinkStats) SinkStats {
	return SinkStats{Name: s.Name, Pending: s.Pending, InFlight: s.InFlight,
		Delivered: s.Delivered, Retried: s.Retried, Superseded: s.Superseded,
		Dropped: s.Dropped, Failed: s.Failed, Skipped: s.Skipped}
}

func (a *AdminAPI) handleStats(w http.ResponseWriter, r *http.Request) error {
	if err := onlyGET(w, r); err != nil {
		return err
	}
	return writeAdminJSON(w, collectStats())
}

func collectStats() AdminStats {
	var out AdminStats
	stores := pooledStores()
	out.Stores = make([]StoreStats, 0, len(stores))
	for _, s := range stores {
		out.Stores = append(out.Stores, StoreStats{Name: s.name, Stats: s.store.Stats()})
	}
	out.Engines = engineStats(stores)
	out.Capture, out.CaptureSinceStart = captureTotals()
	return out
}

func engineStats(stores []namedStore) []EngineStats {
	out := []EngineStats{}
	for _, e := range pooledEngines() {
		es := EngineStats{Store: storeOfEngine(e.key, stores), Sinks: []SinkStats{}}
		for _, s := range e.engine.Stats() {
			es.Sinks = append(es.Sinks, sinkStatsOf(s))
		}
		out = append(out, es)
	}
	return out
}

// storeOfEngine finds the store in an engine's pool key ("engine/%p/…",
// see deliveryKey).
func storeOfEngine(key string, stores []namedStore) string {
	for _, s := range stores {
		if strings.HasPrefix(key, fmt.Sprintf("engine/%p/", s.store)) {
			return s.name
		}
	}
	return ""
}

// handleSession serves /sessiontap/sessions/{id}. Ids may contain '/', so
// the id is everything after the route; our cookie's value is taken too.
func (a *AdminAPI) handleSession(w http.ResponseWriter, r *http.Request) error {
	if err := onlyGET(w, r); err != nil {
		return err
	}
	id := model.OperatorID(strings.TrimPrefix(r.URL.Path, "/sessiontap/sessions/"))
	store, err := adminStore(r.URL.Query().Get("store"))
	if err != nil {
		return err
	}
	if !model.ValidID(id) {
		return notFound(errors.New("session not found"))
	}
	s, err := store.Get(r.Context(), id)
	switch {
	case errors.Is(err, cache.ErrNotFound), errors.Is(err, cache.ErrClosed):
		return notFound(errors.New("session not found"))
	case errors.Is(err, cache.ErrUnavailable):
		respond.RetryLater(w)
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("session store: %v", err)}
	case err != nil:
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("session store: %v", err)}
	}
	return writeAdminJSON(w, s)
}

func onlyGET(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet {
		return nil
	}
	w.Header().Set("Allow", http.MethodGet)
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed: %s", r.Method)}
}

func notFound(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}

type namedStore struct {
	name  string
	store cache.Store
}

// pooledStores lists the stores in the pool by name. A store listed may be
// closed by a reload meanwhile; it then answers as empty.
func pooledStores() []namedStore {
	var out []namedStore
	stores.Range(func(k, v any) bool {
		// A type switch, not assertions: an entry still being constructed
		// holds nil.
		switch v := v.(type) {
		case *lazyBigcache:
			out = append(out, namedStore{name: strings.TrimPrefix(k.(string), "bigcache/"), store: v})
		case pooledRedis:
			// The guarded store: admin reads are counted and fail fast too.
			out = append(out, namedStore{name: v.name, store: v.guarded})
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// adminStore is the store ?store= names; without it, the one store in
// use, whatever its kind (Redis's is named redis unless told otherwise),
// or else the one named default.
func adminStore(name string) (cache.Store, error) {
	stores := pooledStores()
	if name == "" && len(stores) == 1 {
		return stores[0].store, nil
	}
	if name == "" {
		name = "default"
	}
	if s := findStore(name); s != nil {
		return s, nil
	}
	var names []string
	for _, s := range stores {
		names = append(names, s.name)
	}
	return nil, notFound(fmt.Errorf("no session store named %q; name one with ?store=<name> (in use: %s)", name, strings.Join(names, ", ")))
}

func findStore(name string) cache.Store {
	for _, s := range pooledStores() {
		if s.name == name {
			return s.store
		}
	}
	return nil
}

type keyedEngine struct {
	key    string
	engine delivery.Deliverer
}

// pooledEngines lists the engines in the pool, ordered by key.
func pooledEngines() []keyedEngine {
	var out []keyedEngine
	engines.Range(func(k, v any) bool {
		out = append(out, keyedEngine{key: k.(string), engine: v.(pooledEngine).Deliverer})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)

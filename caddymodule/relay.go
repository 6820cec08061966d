package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// With Redis, the script that stores a visitor's write also marks it in
// the write log (cache.WithRelay); the writer then queues its deliveries
// in the outbox and clears the mark. A write whose mark stays (its node
// died in between, or the outbox's Redis call failed) is queued by the
// relay of any node, from the stored session: a stored write is never
// left undelivered.
const (
	// relayAge is how long a mark may stay before a relay takes it: far
	// beyond a writer's store-then-queue (two Redis calls).
	relayAge = 5 * time.Second
	// relayEvery is how often each engine looks.
	relayEvery = time.Second
	// relayBatch bounds what one look takes per shard.
	relayBatch = 100
)

// relayedWrites counts the writes a relay queued for a writer that did not.
var relayedWrites = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "relayed_writes_total",
	Help: "Stored writes whose deliveries their writer did not queue (it stopped, or Redis failed), queued later by a node's relay.",
})

// queuer is the outbox's Queue.
type queuer interface {
	Queue(*delivery.Update) error
}

// relay queues the deliveries of one engine's writes (see above).
type relay struct {
	store *cache.Redis
	name  string
	out   queuer
	log   *zap.Logger
	stop  chan struct{}
	done  sync.WaitGroup
}

// relayName names an engine's write log: the same on every node with the
// same forwards (where they send, not the credentials), different for a
// site that forwards elsewhere, so that no write is relayed to sinks its
// site does not have.
func relayName(fs []Forward) string {
	type dest struct{ To, URL, Name, Tenant, SiteCode string }
	ds := make([]dest, len(fs))
	for i, f := range fs {
		ds[i] = dest{f.To, f.URL, f.Name, f.Tenant, f.SiteCode}
	}
	b, _ := json.Marshal(ds)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func startRelay(store *cache.Redis, name string, out queuer, log *zap.Logger) *relay {
	r := &relay{store: store, name: name, out: out, log: log, stop: make(chan struct{})}
	r.done.Go(r.run)
	return r
}

// close stops the relay and waits for its look in progress.
func (r *relay) close() {
	close(r.stop)
	r.done.Wait()
}

// queued queues a write's deliveries and, once the outbox has them,
// clears the write's mark.
func (r *relay) queued(u *delivery.Update) {
	if r.out.Queue(u) != nil {
		return // the relay takes it later
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.store.Relayed(ctx, r.name, u.Session.ID, u.Session.Version) // else relayed again: harmless
}

func (r *relay) run() {
	t := time.NewTicker(relayEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.look()
		}
	}
}

// look relays what stayed marked too long. Each entry gets a timeout of
// its own: one shared by all would leave the last ones of a big batch
// none, and they would come back again and again.
func (r *relay) look() {
	ctx, cancel := context.WithTimeout(context.Background(), relayEvery)
	us, err := r.store.Unrelayed(ctx, r.name, relayAge, relayBatch)
	cancel()
	if err != nil && !errors.Is(err, cache.ErrClosed) {
		r.log.Debug("reading the write log failed", zap.Error(err))
	}
	n := 0
	for _, u := range us {
		select {
		case <-r.stop:
			return // what is left comes back to a relay after relayAge
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), relayEvery)
		if r.redo(ctx, u) {
			n++
		}
		cancel()
	}
	if n > 0 {
		relayedWrites.Add(float64(n))
		r.log.Info("queued deliveries of writes their node did not queue", zap.Int("writes", n))
	}
}

// redo queues the stored session of an entry; false when it is gone or
// not queued (it comes back after relayAge).
func (r *relay) redo(ctx context.Context, e cache.Unrelayed) bool {
	s, err := r.store.Get(ctx, e.ID)
	if errors.Is(err, cache.ErrNotFound) {
		_ = r.store.Relayed(ctx, r.name, e.ID, e.Last) // erased or expired: nothing to send
		return false
	}
	if err != nil {
		return false
	}
	u := &delivery.Update{Session: *s, Changed: changedSince(s, e.First), OccurredAt: s.UpdatedAt}
	if r.out.Queue(u) != nil {
		return false
	}
	_ = r.store.Relayed(ctx, r.name, e.ID, s.Version)
	return true
}

// changedSince is what the writes from version first on changed, as the
// session's history says; everything, when it keeps no entry that old.
func changedSince(s *model.Session, first uint64) model.Change {
	var c model.Change
	oldest := uint64(0)
	for _, e := range s.History {
		if e.Version >= first {
			c |= e.Changes
		}
		if oldest == 0 || e.Version < oldest {
			oldest = e.Version
		}
	}
	if oldest == 0 || oldest > first {
		// Consent too: a relayed withdrawal must cancel what waits.
		c |= model.ChangeCart | model.ChangeCustomer | model.ChangeOrder | model.ChangeConsent
	}
	return c
}

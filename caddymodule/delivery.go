package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/ratelimit"
	sessionsvc "github.com/sessiontap/caddy-sessiontap/internal/session"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// engines holds the delivery engines across config reloads, keyed by
// everything that shapes them: a reload that keeps the forward config
// keeps the engine and its pending deliveries; one that changes it drains
// the old engine (for its grace period) while the new one takes over.
var engines = caddy.NewUsagePool()

const defaultGrace = 10 * time.Second

type pooledEngine struct {
	delivery.Deliverer
	grace   time.Duration
	release func() // after Close: lets go of what the engine used (the Redis client)
	// unsubscribe ends the engine's subscriptions to its store's bus.
	unsubscribe func()
}

// Destruct drains pending deliveries for the grace period, then stops.
// When Caddy exits it waits for the drain; on a reload that drops these
// sinks it drains in the background, since Caddy applies a reload
// synchronously and an upstream that is down must not stall it.
func (p pooledEngine) Destruct() error {
	// Nothing new for an engine on its way out.
	p.unsubscribe()
	drain := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), p.grace)
		defer cancel()
		defer p.release()
		return p.Close(ctx)
	}
	if caddy.Exiting() {
		return drain()
	}
	go func() {
		if err := drain(); err != nil {
			caddy.Log().Named("sessiontap.delivery").Warn("deliveries left undelivered after a reload", zap.Error(err))
		}
	}()
	return nil
}

// provisionDelivery loads or starts the engine for this config's sinks.
func (h *Handler) provisionDelivery() error {
	// Before the forwards: a lease is checked even when none is set yet.
	if err := h.validateLease(); err != nil {
		return err
	}
	if len(h.Forward) == 0 {
		return nil
	}
	repl := caddy.NewReplacer()
	for _, f := range h.Forward {
		if err := f.check(repl); err != nil {
			return err
		}
	}
	key, err := h.deliveryKey()
	if err != nil {
		return err
	}
	// newEngine subscribes the engine to the writes made under its key.
	h.engineKey = key
	if _, ok := h.storeMod.(*RedisStore); ok {
		h.relay = relayName(h.Forward)
	}
	val, _, err := engines.LoadOrNew(key, h.newEngine)
	if err != nil {
		h.engineKey, h.relay = "", ""
		return err
	}
	h.engine = val.(pooledEngine).Deliverer
	return nil
}

func (h *Handler) deliveryKey() (string, error) {
	b, err := json.Marshal([]any{forwardsForKey(h.Forward), h.HMACKey, h.Delivery})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	// The store is part of the key: feedback is written to it.
	return fmt.Sprintf("engine/%p/%x", h.sharedStore(), sum[:12]), nil
}

func (h *Handler) newEngine() (caddy.Destructor, error) {
	d := h.Delivery
	if d == nil {
		d = &Delivery{}
	}
	repl := caddy.NewReplacer()
	hashKey := h.hmacKey()
	if hashKey == "" {
		h.logger.Warn("hmac_key none: customer references leave the process as HMAC-SHA256 " +
			"under an empty key, which anyone can compute and reverse for guessable values")
	}
	hasher := delivery.NewHasher(hashKey)
	ids := h.pseudonyms
	// The engine outlives this config, so it logs through Caddy's default
	// logger, not this config's (whose writers close at the next reload).
	labels, err := sinkLabels(h.Forward)
	if err != nil {
		return nil, err
	}
	conns := d.Concurrency
	if conns <= 0 {
		conns = delivery.DefaultConcurrency
	}
	// The sinks first: a config error must not leave an engine running.
	sinks := make([]delivery.Sink, len(h.Forward))
	// Shared: each sink redacts every sink's credentials, Emporix's
	// access tokens included.
	secrets := delivery.NewSecrets(h.secretsToRedact(repl)...)
	for i, f := range h.Forward {
		if sinks[i], err = f.sink(repl, hasher, ids, conns, secrets, sinkEnv{label: labels[i], nostoCID: h.nostoCID()}); err != nil {
			return nil, fmt.Errorf("forward %s: %v", f.To, err)
		}
	}
	cfg := delivery.Config{QueueSize: d.QueueSize, Concurrency: d.Concurrency,
		MaxAttempts: d.MaxAttempts, Timeout: time.Duration(d.Timeout), MaxBackoff: time.Duration(d.MaxBackoff)}
	e, release, err := h.newDeliverer(cfg, time.Duration(d.Lease), d.QueueBytes, caddy.Log().Named("sessiontap.delivery"))
	if err != nil {
		return nil, err
	}
	for i, f := range h.Forward {
		e.AddSink(sinks[i], delivery.SinkOptions{On: f.On, Name: labels[i], Requires: f.Requires})
	}
	e.OnResult(observeDelivery)
	if st := h.sharedStore(); st != nil {
		// The store outlives the engine's configs as the engine does.
		e.SetReplaySource(replaySource{st})
	}
	grace := time.Duration(d.Grace)
	if grace <= 0 {
		grace = defaultGrace
	}
	return pooledEngine{Deliverer: e, grace: grace, release: release, unsubscribe: h.subscribeEngine(e)}, nil
}

// subscribeEngine wires a new engine to its store's hub, once, for its
// life (no config sets anything on it after): it takes the writes made
// under its key, cancels what an erasure leaves, tells the live feeds of
// its attempts and keeps its upstreams' feedback on the sessions.
func (h *Handler) subscribeEngine(e delivery.Deliverer) (unsubscribe func()) {
	b, key := h.hub, h.engineKey
	e.OnAttempt(b.attempted)
	e.OnFeedback(feedbackWriter(hubStore{Store: h.sharedStore(), hub: b}, b))
	enqueue, stopRelay := e.Enqueue, func() {}
	if rs, ok := h.storeMod.(*RedisStore); ok && h.relay != "" {
		if q, ok := e.(queuer); ok {
			r := startRelay(rs.store, h.relay, q, caddy.Log().Named("sessiontap.delivery"))
			enqueue, stopRelay = r.queued, r.close
		}
	}
	stopChanges := b.changes.Subscribe(func(c change) {
		if c.engine == key {
			enqueue(&delivery.Update{Session: *c.Session, Changed: c.Entry.Changes, OccurredAt: c.Session.UpdatedAt, Client: c.Client})
		}
	})
	stopErased := b.erased.Subscribe(e.Cancel)
	return func() { stopChanges(); stopErased(); stopRelay() }
}

// validateLease checks delivery's lease, which only the Redis outbox uses,
// with or without a forward (a config that adds one later must not be the
// first to hear of it). Provision runs it, before the engine is made.
func (h *Handler) validateLease() error {
	d := h.Delivery
	if _, ok := h.storeMod.(*RedisStore); d != nil && d.QueueBytes != 0 && !ok {
		return errors.New("delivery: queue_bytes applies to the Redis store only (with the embedded store, queue_size bounds the queue in this process's memory)")
	}
	if d == nil || d.Lease == 0 {
		return nil
	}
	if _, ok := h.storeMod.(*RedisStore); !ok {
		return errors.New("delivery: lease applies to the Redis store only (with the embedded store, deliveries stay in this process)")
	}
	timeout := time.Duration(d.Timeout)
	if timeout <= 0 {
		timeout = delivery.DefaultTimeout
	}
	if lease := time.Duration(d.Lease); lease <= timeout {
		return fmt.Errorf("delivery: lease %s must be longer than the attempt timeout %s", lease, timeout)
	}
	return nil
}

// newDeliverer is the delivery engine over Redis queues (the outbox)
// when sessions live in Redis, so that deliveries survive this node and
// any node makes them; else over queues in memory. The outbox has a client of its own, closed by
// release after the outbox has handed its leases back: its commands wait
// up to a second, and on a hung Redis they must not hold up visitors'
// requests queued behind them on the store's connection.
func (h *Handler) newDeliverer(cfg delivery.Config, lease time.Duration, queueBytes int64, log *zap.Logger) (delivery.Deliverer, func(), error) {
	rs, ok := h.storeMod.(*RedisStore)
	if !ok { // validateLease refused a lease here
		return delivery.New(cfg, log), func() {}, nil
	}
	rc := rs.store.Config()
	client, err := rs.store.NewClient()
	if err != nil {
		return nil, nil, fmt.Errorf("delivery: connecting the outbox to Redis: %v", scrub(err, rc.Password, rc.Username))
	}
	o, err := delivery.NewOutbox(client, delivery.OutboxConfig{
		Config: cfg, Prefix: rc.Prefix, Lease: lease, StateTTL: rc.TTL, QueueBytes: queueBytes,
		// Enqueue runs on the request path: the store's bound applies.
		EnqueueTimeout: rc.Timeout,
		OnError:        observeOutboxError,
	}, log)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("delivery: %v", err)
	}
	return o, client.Close, nil
}

// feedbackWriter keeps what an upstream answered on the session through
// the session service, which records it and publishes it with no engine,
// so that it is never forwarded again. The history's size is the newest
// visitor handler's when feedback arrives.
func feedbackWriter(store cache.Store, b *hub) func(string, *delivery.Update, delivery.Feedback) {
	sessions := sessionsvc.New(store, sessionsvc.Config{
		History: b.history,
		Publish: func(_ context.Context, c model.SessionChange) { b.changes.Publish(change{SessionChange: c}) },
	})
	return func(sink string, u *delivery.Update, fb delivery.Feedback) {
		_, _, err := sessions.Write(context.Background(), u.Session.ID, model.SourceUpstream, sink, func(s *model.Session) (model.Change, error) {
			if s.Version == 0 {
				return 0, cache.ErrNoChange // deleted meanwhile (GDPR): do not resurrect
			}
			changed := false
			if fb.Effects != nil && string(fb.Effects) != string(s.Effects) {
				s.Effects, changed = fb.Effects, true
			}
			if fb.ContextVersion != 0 && fb.ContextVersion != s.ContextVersion {
				s.ContextVersion, changed = fb.ContextVersion, true
			}
			if !changed {
				return 0, cache.ErrNoChange
			}
			return model.ChangeFeedback, nil
		})
		if err != nil {
			caddy.Log().Named("sessiontap.delivery").Error("keeping upstream feedback failed",
				zap.String("sink", sink), zap.Error(err))
		}
	}
}

// nostoCID reports whether the sessions' external ids are Nosto's own
// customer ids: the only external source is the 2c.cId cookie.
func (h *Handler) nostoCID() bool {
	return len(h.Sessions) == 1 && h.Sessions[0].From == "cookie" && h.Sessions[0].Name == "2c.cId"
}

// publishChange puts a write of the visitor's path on the store's bus,
// for this config's delivery engine (and the live feeds). It runs on the
// request path: the client's network is read here, while the request's
// variables are ours to read.
func (h *Handler) publishChange(ctx context.Context, c model.SessionChange) {
	// Only a queue charges the client; without one, no need to parse it.
	if h.engineKey != "" {
		ip, _ := caddyhttp.GetVar(ctx, caddyhttp.ClientIPVarKey).(string)
		if n := ratelimit.Network(ip); n.IsValid() {
			c.Client = n.String()
		}
	}
	h.hub.changes.Publish(change{SessionChange: c, engine: h.engineKey})
}

// cleanupDelivery releases this config's use of its engine.
func (h *Handler) cleanupDelivery() {
	if h.engineKey == "" {
		return
	}
	key := h.engineKey
	h.engineKey, h.relay = "", ""
	if _, err := engines.Delete(key); err != nil {
		h.logger.Error("stopping the delivery engine", zap.Error(err))
	}
}

// replaySource is the store as a replay reads it.
type replaySource struct{ store cache.Store }

func (s replaySource) Page(ctx context.Context, since, until time.Time, cursor string, n int) ([]delivery.ReplayEntry, string, error) {
	list, next, err := s.store.UpdatedSince(ctx, since, until, cursor, n)
	out := make([]delivery.ReplayEntry, len(list))
	for i, e := range list {
		out[i] = delivery.ReplayEntry{ID: e.ID, Cursor: e.Cursor}
	}
	return out, next, err
}

func (s replaySource) Get(ctx context.Context, id string) (*model.Session, error) {
	sess, err := s.store.Get(ctx, id)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil
	}
	return sess, err
}

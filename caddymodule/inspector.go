package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/api"
	"github.com/sessiontap/caddy-sessiontap/feed"
	"github.com/sessiontap/caddy-sessiontap/inspector"
	"github.com/sessiontap/caddy-sessiontap/model"
	"github.com/sessiontap/caddy-sessiontap/upstream"
)

// Inspector turns on the live inspector, a page for operators at
// {prefix}/ui/ of the API. Signing in takes one of the API's keys.
type Inspector struct {
	// TTL is how long a sign-in lasts before the key is asked for again,
	// from 1m to 12h. Default 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// FeedSize is how many recent session changes the live feed keeps:
	// in memory with the embedded store, in a Redis Stream capped at
	// about this length (shared by the fleet) with the Redis store.
	// Default 1000.
	FeedSize int `json:"feed_size,omitempty"`
	// Secret signs the sign-in cookies, at least 16 bytes, the same on
	// every node. Placeholders such as {env.X} are replaced. Default: a
	// key derived from the API keys, which lets anyone holding a cookie
	// test guesses of a key offline, so set it when the keys are short.
	Secret string `json:"secret,omitempty"`
}

// feeds holds the live feeds across reloads, per store and size, so that
// a reload keeps the recent changes (and a fleet's stream reader).
var feeds = caddy.NewUsagePool()

type pooledFeed struct {
	feed.Feed
	release func()
}

func (p pooledFeed) Destruct() error {
	err := p.Close()
	p.release()
	return err
}

// nodeName names this node in feed events.
var nodeName, _ = os.Hostname()

// provisionFeed loads or starts the live feed, when the inspector is on.
func (h *Handler) provisionFeed() error {
	if h.API == nil || h.API.Inspector == nil {
		return nil
	}
	size := h.API.Inspector.FeedSize
	if size <= 0 {
		size = feed.DefaultSize
	}
	key := fmt.Sprintf("feed/%p/%d", h.sharedStore(), size)
	val, _, err := feeds.LoadOrNew(key, func() (caddy.Destructor, error) { return h.newFeed(size) })
	if err != nil {
		return err
	}
	h.feedKey = key
	h.feed = val.(pooledFeed).Feed
	return nil
}

// newFeed is a Redis Stream beside the sessions when they live in Redis,
// on a client of its own (its blocking reads must not queue visitors'
// requests), else a ring in memory.
func (h *Handler) newFeed(size int) (caddy.Destructor, error) {
	rs, ok := h.storeMod.(*RedisStore)
	if !ok {
		return pooledFeed{Feed: feed.NewRing(size), release: func() {}}, nil
	}
	rc := rs.store.Config()
	client, err := rs.store.NewClient()
	if err != nil {
		return nil, fmt.Errorf("inspector: connecting the live feed to Redis: %v", scrub(err, rc.Password, rc.Username))
	}
	return pooledFeed{Feed: feed.NewStream(client, rc.Prefix+"feed", size, observeFeedError), release: client.Close}, nil
}

// wireAttempts tells the live feed of every delivery attempt, so that the
// inspector's list shows sink states as they move; or stops telling it,
// when this config has no feed (the engine outlives configs).
func (h *Handler) wireAttempts() {
	if h.engine == nil {
		return
	}
	if h.feed == nil {
		h.engine.OnAttempt(nil)
		return
	}
	f := h.feed
	h.engine.OnAttempt(func(sink, id string, version uint64, outcome string) {
		f.Publish(feed.DeliveryOf(sink, id, version, outcome, nodeName))
	})
}

// publish puts a change on the live feed. It runs on the request path;
// Publish never blocks.
func (h *Handler) publish(s *model.Session, e model.HistoryEntry) {
	h.feed.Publish(feed.EventOf(s, e, nodeName))
}

func (h *Handler) cleanupFeed() {
	if h.feedKey == "" {
		return
	}
	key := h.feedKey
	h.feedKey = ""
	_, _ = feeds.Delete(key)
}

// newInspector builds the inspector over the API's keys, or nil when off.
func (h *Handler) newInspector(cfg *api.Config) (*inspector.Inspector, error) {
	if cfg == nil || h.API.Inspector == nil {
		return nil, nil
	}
	check, err := api.KeyChecker(cfg.Keys)
	if err != nil {
		return nil, err
	}
	secret, err := h.inspectorSecret()
	if err != nil {
		return nil, err
	}
	ic := inspector.Config{
		Prefix: cfg.Prefix, CheckKey: check, SigningKey: inspector.SigningKey(secret), Guesses: cfg.Guesses,
		TTL: time.Duration(h.API.Inspector.TTL), Feed: h.feed, Store: h.store,
		Summary: h.inspectorSummary, RefHash: h.hasher.Hash, Secure: secureRequest,
	}
	if h.engine != nil {
		engine := h.engine
		ic.Deliveries = engine.Status
		ic.Retry = h.retryDelivery
	}
	return inspector.New(ic, h.logger)
}

// inspectorSecret is what signs the inspector's sign-ins: its secret, or
// else one the store keeps (for the fleet, with Redis). Never the API keys.
func (h *Handler) inspectorSecret() ([]byte, error) {
	if h.API.Inspector.Secret == "" {
		s, err := h.storeSecret("inspector")
		if err != nil {
			return nil, fmt.Errorf("api: inspector: %w (or configure its secret)", err)
		}
		return s, nil
	}
	secret := caddy.NewReplacer().ReplaceKnown(h.API.Inspector.Secret, "")
	if len(secret) < 16 {
		return nil, errors.New("api: inspector: secret must be at least 16 bytes (is its environment variable set?)")
	}
	return []byte(secret), nil
}

// retryDelivery retries one sink's delivery of the session as it is
// stored now.
func (h *Handler) retryDelivery(ctx context.Context, id, sink string) (string, error) {
	s, err := h.store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return h.engine.Retry(ctx, sink, &upstream.Update{Session: *s, Changed: model.ChangeCart | model.ChangeCustomer | model.ChangeOrder, OccurredAt: s.UpdatedAt})
}

// inspectorSummary is the summary strip: this config's captures by source
// and outcome, each sink's queue and losses, and the store's size, in the
// admin view's shapes (/sessiontap/stats).
func (h *Handler) inspectorSummary(context.Context) any {
	var captures CaptureTotals
	captures.add(h.handler.Stats())
	sinks := []SinkStats{}
	if h.engine != nil {
		for _, s := range h.engine.Stats() {
			sinks = append(sinks, sinkStatsOf(s))
		}
	}
	return map[string]any{"captures": captures, "sinks": sinks, "store": h.store.Stats()}
}

func (i *Inspector) validate() error {
	if i.TTL < 0 || (i.TTL > 0 && time.Duration(i.TTL) < time.Minute) || time.Duration(i.TTL) > 12*time.Hour {
		return errors.New("api: inspector: ttl must be from 1m to 12h")
	}
	if i.FeedSize < 0 || i.FeedSize > 100000 {
		return errors.New("api: inspector: feed_size must be between 1 and 100000")
	}
	return nil
}

// parseInspector reads `inspector [{ ttl <duration>; feed_size <n>; secret <s> }]`.
func (a *API) parseInspector(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	a.Inspector = &Inspector{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt != "ttl" && opt != "feed_size" && opt != "secret" {
			return unrecognized(d, "api: inspector: unrecognized option", []string{"feed_size", "secret", "ttl"})
		}
		var arg string
		if err := oneArg(d, &arg); err != nil {
			return err
		}
		switch opt {
		case "ttl":
			v, err := caddy.ParseDuration(arg)
			if err != nil {
				return d.Errf("api: inspector: ttl: %v", err)
			}
			a.Inspector.TTL = caddy.Duration(v)
		case "secret":
			a.Inspector.Secret = arg
		case "feed_size":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return d.Errf("api: inspector: feed_size must be a positive number, not %q", arg)
			}
			a.Inspector.FeedSize = n
		}
	}
	return a.Inspector.validate()
}

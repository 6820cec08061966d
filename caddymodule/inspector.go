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
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/api"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/internal/inspector"
)

// Inspector turns on the live inspector, a page for operators at
// {prefix}/ui/ of the operator handler. Signing in takes one of its keys.
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
	// key the store generates and keeps (in Redis, one for the fleet;
	// embedded, one per process, so sign-ins end with a restart). Never
	// derived from the API keys.
	Secret string `json:"secret,omitempty"`
}

// feeds holds the live feeds across reloads, per store and size, so that
// a reload keeps the recent changes (and a fleet's stream reader).
var feeds = caddy.NewUsagePool()

type pooledFeed struct {
	feed.Feed
	release func()
	// unsubscribe ends the feed's subscriptions to its store's bus.
	unsubscribe func()
}

func (p pooledFeed) Destruct() error {
	p.unsubscribe()
	err := p.Close()
	p.release()
	return err
}

// nodeName names this node in feed events.
var nodeName, _ = os.Hostname()

// provisionFeed loads or starts the live feed, when the inspector is on.
// A new feed subscribes to its store's bus for its life.
func (o *OperatorHandler) provisionFeed() error {
	if o.Inspector == nil {
		return nil
	}
	size := o.Inspector.FeedSize
	if size <= 0 {
		size = feed.DefaultSize
	}
	key := fmt.Sprintf("feed/%p/%d", o.store, size)
	val, _, err := feeds.LoadOrNew(key, func() (caddy.Destructor, error) { return o.newFeed(size) })
	if err != nil {
		return err
	}
	o.feedKey = key
	o.feed = val.(pooledFeed).Feed
	return nil
}

// newFeed is a Redis Stream beside the sessions when they live in Redis,
// on a client of its own (its blocking reads must not queue visitors'
// requests), else a ring in memory.
func (o *OperatorHandler) newFeed(size int) (caddy.Destructor, error) {
	rs, ok := o.storeMod.(*RedisStore)
	if !ok {
		f := feed.NewRing(size)
		return pooledFeed{Feed: f, release: func() {}, unsubscribe: subscribeFeed(o.hub, f)}, nil
	}
	rc := rs.store.Config()
	client, err := rs.store.NewClient()
	if err != nil {
		return nil, fmt.Errorf("inspector: connecting the live feed to Redis: %v", scrub(err, rc.Password, rc.Username))
	}
	f := feed.NewStream(client, rc.Prefix+"feed", size, observeFeedError)
	return pooledFeed{Feed: f, release: client.Close, unsubscribe: subscribeFeed(o.hub, f)}, nil
}

// forgetFeedTimeout bounds how long an erasure waits for the live feed.
const forgetFeedTimeout = 5 * time.Second

// subscribeFeed feeds f from its store's bus: every write and delivery
// attempt goes on it, and an erasure (GDPR) takes the session's events
// off it, on every node of a fleet. Publish never blocks. The feed
// outlives the config, so it logs through Caddy's default logger.
func subscribeFeed(b *hub, f feed.Feed) (unsubscribe func()) {
	stops := []func(){
		b.changes.Subscribe(func(c change) { f.Publish(feed.EventOf(c.Session, c.Entry, nodeName)) }),
		b.attempts.Subscribe(func(a attempt) { f.Publish(feed.DeliveryOf(a.sink, a.id, a.version, a.outcome, nodeName)) }),
		b.erased.Subscribe(func(id string) {
			ctx, cancel := context.WithTimeout(context.Background(), forgetFeedTimeout)
			defer cancel()
			if err := f.Forget(ctx, id); err != nil {
				caddy.Log().Named("sessiontap.feed").Error("erasing a session from the live feed failed; its events stay until the feed rolls over", zap.Error(err))
			}
		}),
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func (o *OperatorHandler) cleanupFeed() {
	if o.feedKey == "" {
		return
	}
	key := o.feedKey
	o.feedKey = ""
	_, _ = feeds.Delete(key)
}

// newInspector builds the inspector over the API's keys, or nil when off.
func (o *OperatorHandler) newInspector(cfg *api.Config) (*inspector.Inspector, error) {
	if o.Inspector == nil {
		return nil, nil
	}
	check, err := api.KeyChecker(cfg.Keys)
	if err != nil {
		return nil, err
	}
	secret, err := o.inspectorSecret()
	if err != nil {
		return nil, err
	}
	b, store := o.hub, o.store
	ic := inspector.Config{
		Prefix: cfg.Prefix, CheckKey: check, SigningKey: inspector.SigningKey(secret), Guesses: cfg.Guesses,
		TTL: time.Duration(o.Inspector.TTL), Feed: o.feed, Store: store,
		Summary: o.inspectorSummary, RefHash: b.refHash, Secure: secureRequest,
		Deliveries: b.deliveries,
		Retry:      func(ctx context.Context, id, sink string) (string, error) { return b.retry(ctx, store, id, sink) },
		Replay:     b.replay, ReplayStatus: b.replayStatus,
	}
	return inspector.New(ic, o.logger)
}

// inspectorSecret is what signs the inspector's sign-ins: its secret, or
// else one the store keeps (for the fleet, with Redis). Never the API keys.
func (o *OperatorHandler) inspectorSecret() ([]byte, error) {
	if o.Inspector.Secret == "" {
		s, err := storeSecret(o.store, "inspector")
		if err != nil {
			return nil, fmt.Errorf("inspector: %w (or configure its secret)", err)
		}
		return s, nil
	}
	secret := caddy.NewReplacer().ReplaceKnown(o.Inspector.Secret, "")
	if len(secret) < 16 {
		return nil, errors.New("inspector: secret must be at least 16 bytes (is its environment variable set?)")
	}
	return []byte(secret), nil
}

// inspectorSummary is the summary strip: the captures of the visitor
// handlers on this store by source and outcome, each sink's queue and
// losses, and the store's size, in the admin view's shapes
// (/sessiontap/stats).
func (o *OperatorHandler) inspectorSummary(context.Context) any {
	sum := InspectorSummary{Sinks: []SinkStats{}, Store: o.store.Stats()}
	for _, v := range o.hub.visitorList() {
		sum.Captures.add(v.handler.Stats())
	}
	for _, e := range o.hub.engines() {
		for _, s := range e.Stats() {
			sum.Sinks = append(sum.Sinks, sinkStatsOf(s))
		}
	}
	return sum
}

// InspectorSummary is the inspector's summary strip, as its page reads
// it (the Summary typedef of app.js; testdata/wire holds the two alike).
type InspectorSummary struct {
	Captures CaptureTotals `json:"captures"`
	Sinks    []SinkStats   `json:"sinks"`
	Store    cache.Stats   `json:"store"`
}

func (i *Inspector) validate() error {
	if i.TTL < 0 || (i.TTL > 0 && time.Duration(i.TTL) < time.Minute) || time.Duration(i.TTL) > 12*time.Hour {
		return errors.New("inspector: ttl must be from 1m to 12h")
	}
	if i.FeedSize < 0 || i.FeedSize > 100000 {
		return errors.New("inspector: feed_size must be between 1 and 100000")
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
			return unrecognized(d, "inspector: unrecognized option", []string{"feed_size", "secret", "ttl"})
		}
		var arg string
		if err := oneArg(d, &arg); err != nil {
			return err
		}
		switch opt {
		case "ttl":
			v, err := caddy.ParseDuration(arg)
			if err != nil {
				return d.Errf("inspector: ttl: %v", err)
			}
			a.Inspector.TTL = caddy.Duration(v)
		case "secret":
			a.Inspector.Secret = arg
		case "feed_size":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return d.Errf("inspector: feed_size must be a positive number, not %q", arg)
			}
			a.Inspector.FeedSize = n
		}
	}
	return a.Inspector.validate()
}

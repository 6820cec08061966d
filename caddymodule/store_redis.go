package caddymodule

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/cache"
)

// pooledRedis makes a Redis store a caddy.Destructor for the pool, with the
// name the admin endpoint and metrics show it by.
type pooledRedis struct {
	*cache.Redis
	name string
	// guarded is what configs use: one per client, so that a reload keeps
	// its breaker, its outage log and its identity (delivery keys on it).
	guarded *guardedStore
	memory  *memoryWatch
}

// Destruct closes the client once no config uses it any more.
func (p pooledRedis) Destruct() error {
	p.memory.close()
	return p.Close()
}

// RedisStore keeps sessions in a Redis server that several Caddy nodes
// share: a standalone server, a primary found through Redis Sentinel
// (followed through failovers), or a Redis Cluster. Configs with the same
// settings share one client, across reloads too.
type RedisStore struct {
	// Name labels the store in the admin endpoint (/sessiontap/stats,
	// ?store=<name>) and in metrics. Default "redis".
	Name string `json:"name,omitempty"`
	// Addresses name the server (host:port). One of addresses, cluster,
	// url or sentinels is required. Several addresses are seed nodes of
	// one Redis Cluster (a standalone server given several is refused).
	Addresses []string `json:"addresses,omitempty"`
	// Cluster are host:port addresses of nodes of a Redis Cluster (any
	// of them; the client learns the rest, and follows failovers and slot
	// moves). A server that is not a cluster is refused at load.
	Cluster []string `json:"cluster,omitempty"`
	// Sentinels are the host:port addresses of Redis Sentinels watching
	// the primary named MasterName: the store writes to whichever server
	// they name the primary and follows a failover by itself, and so do
	// the delivery outbox and the live feed.
	Sentinels []string `json:"sentinels,omitempty"`
	// MasterName is the name the sentinels know the primary by
	// (sentinel.conf's "sentinel monitor <name> ..."); required with
	// sentinels.
	MasterName string `json:"master_name,omitempty"`
	// URL is the server as redis://[user:password@]host:port[/0], or
	// rediss:// for TLS; only database 0 is supported. Placeholders are
	// replaced. Its credentials never appear in logs or errors.
	URL string `json:"url,omitempty"`
	// Username is the ACL user, if the server has ACLs. Placeholders are
	// replaced.
	Username string `json:"username,omitempty"`
	// Password authenticates the connection. Placeholders such as
	// {env.REDIS_PASSWORD} are replaced.
	Password string `json:"password,omitempty"`
	// TLS, when set, connects with TLS; the server's certificate is
	// verified unless insecure_skip_verify.
	TLS *RedisTLS `json:"tls,omitempty"`
	// Prefix starts every key the store writes. Default "sessiontap:".
	Prefix string `json:"prefix,omitempty"`
	// TTL is how long a session lives after its last write. Default 24h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Timeout bounds every Redis command. Default 200ms: above what the
	// commands took under load on a saturated 2-core machine (p99.9 of an
	// update, two commands, under 100ms: bench/store-p99.sh).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// IndexKey keys the HMAC-SHA256 that names the customer index's keys,
	// so that customer references never appear in key names. Required, at
	// least 16 bytes, the same on every node sharing the prefix.
	// Placeholders such as {env.SESSIONTAP_INDEX_KEY} are replaced.
	IndexKey string `json:"index_key,omitempty"`

	store   *cache.Redis
	guarded *guardedStore
	key     string
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// InsecureSkipVerify turns off the server certificate's verification.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "sessiontap.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision resolves placeholders and loads the client for these settings
// from the pool, or connects a new one (which must answer a PING).
func (r *RedisStore) Provision(caddy.Context) error {
	if r.Name == "" {
		r.Name = "redis"
	}
	if err := r.Validate(); err != nil {
		return err
	}
	cfg, err := r.redisConfig(caddy.NewReplacer())
	if err != nil {
		return err
	}
	key := "redis/" + poolKey(r.Name, cfg)
	val, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		// Never the config's ctx: the client outlives this config.
		c, err := cache.NewRedis(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		return pooledRedis{Redis: c, name: r.Name, guarded: newGuardedStore(c, r.Name), memory: startMemoryWatch(c, r.Name)}, nil
	})
	if err != nil {
		return fmt.Errorf("store redis %q: %v%s", r.Name, scrub(err, cfg.Password, cfg.Username), tlsHint(cfg, err))
	}
	r.key = key
	r.store = val.(pooledRedis).Redis
	r.guarded = val.(pooledRedis).guarded
	return nil
}

// redisConfig is the store's config with placeholders replaced.
func (r *RedisStore) redisConfig(repl *caddy.Replacer) (cache.RedisConfig, error) {
	cfg := cache.RedisConfig{
		Addresses:  r.Addresses,
		Cluster:    len(r.Cluster) > 0,
		Sentinels:  r.Sentinels,
		MasterName: r.MasterName,
		Username:   repl.ReplaceKnown(r.Username, ""),
		Password:   repl.ReplaceKnown(r.Password, ""),
		Prefix:     r.Prefix,
		TTL:        time.Duration(r.TTL),
		Timeout:    time.Duration(r.Timeout),
		HashKey:    []byte(repl.ReplaceKnown(r.IndexKey, "")),
	}
	if cfg.Cluster {
		cfg.Addresses = r.Cluster
	}
	if r.Password != "" && cfg.Password == "" {
		return cfg, fmt.Errorf("store redis: %v", emptySecret("password", r.Password, ""))
	}
	if len(cfg.HashKey) == 0 {
		return cfg, fmt.Errorf("store redis: %v", emptySecret("index_key", r.IndexKey, ""))
	}
	if len(cfg.HashKey) < 16 {
		return cfg, fmt.Errorf("store redis: index_key must be at least 16 bytes, got %d", len(cfg.HashKey))
	}
	tlsOn := r.TLS != nil
	if r.URL != "" {
		raw := repl.ReplaceKnown(r.URL, "")
		if raw == "" {
			return cfg, fmt.Errorf("store redis: %v", emptySecret("url", r.URL, ""))
		}
		var err error
		if tlsOn, err = applyURL(&cfg, raw, tlsOn); err != nil {
			return cfg, fmt.Errorf("store redis: url: %v", err)
		}
	}
	if tlsOn {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if r.TLS != nil && r.TLS.InsecureSkipVerify {
			cfg.TLS.InsecureSkipVerify = true
		}
	}
	return cfg, nil
}

// Validate checks what does not need placeholders replaced.
func (r *RedisStore) Validate() error {
	switch {
	case len(r.Addresses) == 0 && len(r.Cluster) == 0 && r.URL == "" && len(r.Sentinels) == 0:
		return errors.New("store redis: address, cluster, url or sentinel is required")
	case len(r.Cluster) > 0 && (len(r.Addresses) > 0 || r.URL != "" || len(r.Sentinels) > 0):
		return errors.New("store redis: cluster names the cluster's nodes: leave out address, url and sentinel")
	case len(r.Addresses) > 0 && r.URL != "":
		return errors.New("store redis: use address or url, not both")
	case len(r.Sentinels) > 0 && (len(r.Addresses) > 0 || r.URL != ""):
		return errors.New("store redis: with sentinel, the sentinels find the server: leave out address and url")
	case len(r.Sentinels) > 0 && r.MasterName == "":
		return errors.New("store redis: sentinel needs master_name, the name the sentinels know the primary by")
	case len(r.Sentinels) == 0 && r.MasterName != "":
		return errors.New("store redis: master_name needs the sentinels' addresses: sentinel <host:port>...")
	case r.IndexKey == "":
		return errors.New("store redis: index_key is required (at least 16 bytes; it keys the customer index's HMAC)")
	case r.TTL < 0 || r.Timeout < 0:
		return errors.New("store redis: ttl and timeout must not be negative")
	}
	return nil
}

// SessionStore implements StoreProvider: the client behind a guard that
// counts and logs its failures and fails fast while it is down.
func (r *RedisStore) SessionStore() cache.Store { return r.guarded }

// Cleanup releases this config's use of the client. It also runs after a
// failed Provision, and may run twice, so it only releases what it holds.
func (r *RedisStore) Cleanup() error {
	if r.key == "" {
		return nil
	}
	key := r.key
	r.key = ""
	_, err := stores.Delete(key)
	return err
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store redis {
//		name      <label>          # default redis
//		address   <host:port>      # the server; or:
//		url       redis://[user:password@]host:port[/0]   # rediss:// for TLS; or:
//		sentinel  <host:port>...   # Redis Sentinels, with:
//		master_name <name>         # the primary's name in Sentinel
//		username  <name>
//		password  <secret>
//		tls       [insecure_skip_verify]
//		prefix    <key prefix>     # default sessiontap:
//		ttl       <duration>       # default 24h
//		timeout   <duration>       # per command, default 200ms
//		index_key <secret>         # required, at least 16 bytes
//	}
//
// url, username, password and index_key may be placeholders such as
// {env.REDIS_PASSWORD}, replaced when the config loads.
func (r *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend name
	start := d.Token()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !slices.Contains(redisOptions, opt) {
			return unrecognized(d, "store redis: unrecognized option", redisOptions)
		}
		if err := r.parseOption(d, opt); err != nil {
			return err
		}
	}
	// A missing required option is reported at the store line, not at }.
	if err := r.Validate(); err != nil {
		return errAt(start, err)
	}
	return nil
}

func (r *RedisStore) parseOption(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "address", "cluster", "sentinel":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		switch opt {
		case "sentinel":
			r.Sentinels = append(r.Sentinels, args...)
		case "cluster":
			r.Cluster = append(r.Cluster, args...)
		default:
			r.Addresses = append(r.Addresses, args...)
		}
		return nil
	case "tls":
		r.TLS = &RedisTLS{}
		if !d.NextArg() {
			return nil
		}
		if d.Val() != "insecure_skip_verify" || d.NextArg() {
			return d.Errf("tls: expected nothing or insecure_skip_verify, got %q", d.Val())
		}
		r.TLS.InsecureSkipVerify = true
		return nil
	}
	var arg string
	if err := oneArg(d, &arg); err != nil {
		return err
	}
	switch opt {
	case "ttl", "timeout":
		dur, err := caddy.ParseDuration(arg)
		if err != nil || dur <= 0 {
			return d.Errf("%s: %q is not a positive duration", opt, arg)
		}
		if opt == "ttl" {
			r.TTL = caddy.Duration(dur)
		} else {
			r.Timeout = caddy.Duration(dur)
		}
	case "name":
		r.Name = arg
	case "url":
		r.URL = arg
	case "username":
		r.Username = arg
	case "password":
		r.Password = arg
	case "prefix":
		r.Prefix = arg
	case "index_key":
		r.IndexKey = arg
	case "master_name":
		r.MasterName = arg
	}
	return nil
}

// redisOptions are the options parseOption takes, for suggestions;
// TestRedisOptionsMatchSwitch keeps the two in step.
var redisOptions = []string{"address", "cluster", "index_key", "master_name", "name", "password", "prefix", "sentinel", "timeout", "tls", "ttl", "url", "username"}

// Interface guards
var (
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddy.Validator       = (*RedisStore)(nil)
	_ caddy.CleanerUpper    = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
	_ StoreProvider         = (*RedisStore)(nil)
)

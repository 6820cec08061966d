package caddymodule

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
)

// stores holds the session stores across config reloads. Caddy provisions
// the new config before it cleans up the old one, so the reference count
// never reaches zero on a reload and the sessions survive it.
var stores = caddy.NewUsagePool()

// BigcacheStore is the embedded session store (the default): an in-memory
// bigcache with a hard size cap, shared by every handler that names it.
type BigcacheStore struct {
	// Name of the store; handlers with the same name share one store, and
	// it survives config reloads. Default "default".
	Name string `json:"name,omitempty"`
	// TTL is how long a session lives after its last write. Default 24h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// MaxSize is the store's hard cap in bytes: the oldest sessions are
	// evicted rather than the store growing past it. Default 256 MiB.
	MaxSize int64 `json:"max_size,omitempty"`

	store  *lazyBigcache
	key    string
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (BigcacheStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "sessiontap.stores.bigcache",
		New: func() caddy.Module { return new(BigcacheStore) },
	}
}

// Provision loads the named store from the pool or creates it.
func (b *BigcacheStore) Provision(ctx caddy.Context) error {
	b.logger = ctx.Logger()
	if b.Name == "" {
		b.Name = "default"
	}
	want := cache.BigcacheConfig{
		TTL:     time.Duration(b.TTL),
		MaxSize: b.MaxSize,
		Logger:  b.logger.Named("bigcache"),
	}
	key := "bigcache/" + b.Name
	val, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) { return new(lazyBigcache), nil })
	if err != nil {
		return fmt.Errorf("store %q: %v", b.Name, err)
	}
	b.key = key
	b.store = val.(*lazyBigcache)
	// A config that names the store without sizing it (the operator
	// handler's, typically) takes the sizes another gives.
	explicit := b.TTL != 0 || b.MaxSize != 0
	if have, sized := b.store.size(want, explicit); explicit && sized {
		b.warnIfChanged(have, want)
	}
	return nil
}

// warnIfChanged tells the operator when a reload asks for a ttl or size the
// running store cannot take: bigcache fixes both when it is created.
func (b *BigcacheStore) warnIfChanged(have, want cache.BigcacheConfig) {
	have.TTL, have.MaxSize = cmp.Or(have.TTL, cache.DefaultTTL), cmp.Or(have.MaxSize, cache.DefaultMaxSize)
	wantTTL, wantSize := want.TTL, want.MaxSize
	if wantTTL == 0 {
		wantTTL = cache.DefaultTTL
	}
	if wantSize == 0 {
		wantSize = cache.DefaultMaxSize
	}
	if have.TTL == wantTTL && have.MaxSize == wantSize {
		return
	}
	b.logger.Warn("the running session store keeps its ttl and max_size across reloads; "+
		"to apply new ones, restart Caddy or give the store a new name (its sessions start empty)",
		zap.String("store", b.Name),
		zap.Duration("ttl", have.TTL), zap.Duration("requested_ttl", wantTTL),
		zap.Int64("max_size", have.MaxSize), zap.Int64("requested_max_size", wantSize))
}

// SessionStore implements StoreProvider.
func (b *BigcacheStore) SessionStore() cache.Store { return b.store }

// Cleanup releases this config's use of the store. It also runs after a
// failed Provision, and may run twice, so it only releases what it holds.
func (b *BigcacheStore) Cleanup() error {
	if b.key == "" {
		return nil
	}
	key := b.key
	b.key = ""
	_, err := stores.Delete(key)
	return err
}

// UnmarshalCaddyfile sets up the store from Caddyfile tokens. Syntax:
//
//	store bigcache {
//		name     <pool name>
//		ttl      <duration>
//		max_size <size>
//	}
func (b *BigcacheStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if !slices.Contains(bigcacheOptions, opt) {
			return unrecognized(d, "store bigcache: unrecognized option", bigcacheOptions)
		}
		var arg string
		if !d.Args(&arg) || d.NextArg() {
			return d.ArgErr()
		}
		switch opt {
		case "name":
			b.Name = arg
		case "ttl":
			dur, err := caddy.ParseDuration(arg)
			if err != nil || dur <= 0 {
				return d.Errf("ttl: %q is not a positive duration", arg)
			}
			b.TTL = caddy.Duration(dur)
		case "max_size":
			size, err := humanize.ParseBytes(arg)
			if err != nil || size == 0 {
				return d.Errf("max_size: %q is not a size such as 256MiB", arg)
			}
			b.MaxSize = int64(size)
		}
	}
	return nil
}

// bigcacheOptions are the cases of UnmarshalCaddyfile's switch, for
// suggestions; TestStoreOptionsMatchSwitch keeps the two in step.
var bigcacheOptions = []string{"max_size", "name", "ttl"}

// Interface guards
var (
	_ caddy.Provisioner     = (*BigcacheStore)(nil)
	_ caddy.CleanerUpper    = (*BigcacheStore)(nil)
	_ caddyfile.Unmarshaler = (*BigcacheStore)(nil)
	_ StoreProvider         = (*BigcacheStore)(nil)
)

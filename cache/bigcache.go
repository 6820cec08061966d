package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// ErrClosed is returned by a store's methods after Close.
var ErrClosed = errors.New("session store is closed")

// ErrTooLarge is returned by Update for a session whose encoding is over
// model.MaxEncodedSize (or the caller's WithSizeLimit), or too big for the store (Bigcache: half of
// one shard, see NewBigcache); nothing is written.
var ErrTooLarge = errors.New("session too large for the store")

var errInvalidID = errors.New("invalid session id")

const (
	DefaultTTL     = 24 * time.Hour
	DefaultMaxSize = 256 << 20
	minShardBytes  = 1 << 20
	maxShards      = 1024
	numStripes     = 256 // power of two
	// bigcache's per-entry overhead: timestamp, hash, key length, plus the
	// queue's length prefix (at most 5 bytes).
	entryOverhead = 8 + 8 + 2 + 5
	// Encoding buffers that grew past this are dropped rather than kept.
	maxKeptBuffer = 64 << 10
)

// BigcacheConfig configures NewBigcache. Zero fields take the defaults.
type BigcacheConfig struct {
	// TTL is how long a session lives after its last write (24h).
	TTL time.Duration
	// MaxSize is a hard cap, in bytes, on the memory holding entries
	// (256 MiB); the oldest entries are evicted to stay under it.
	MaxSize int64
	// Logger gets bigcache's own messages, at debug level (none).
	Logger *zap.Logger
	// Now is the clock deciding expiry, for tests (time.Now).
	Now func() time.Time
}

func (c BigcacheConfig) withDefaults() (BigcacheConfig, error) {
	if c.TTL < 0 {
		return c, fmt.Errorf("ttl must not be negative, got %s", c.TTL)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxSize < minShardBytes {
		return c, fmt.Errorf("max_size must be at least 1 MiB, got %d bytes", c.MaxSize)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Bigcache is a Store in process memory, over allegro/bigcache: entries
// live in a few large byte slices that the garbage collector does not scan.
//
// bigcache has no compare-and-swap, so Updates (and Deletes) of one id are
// serialized by a fixed set of striped mutexes. Two ids whose 64-bit
// bigcache hashes collide overwrite each other; at realistic session counts
// that is vanishingly rare and costs one visitor their session.
type Bigcache struct {
	cache    atomic.Pointer[bigcache.BigCache] // nil once closed
	cfg      BigcacheConfig
	maxEntry int // largest entry (with overhead) Update will store
	seed     maphash.Seed
	stripes  [numStripes]stripe

	staleHits atomic.Int64 // bigcache hits we reported as expired
	evictions atomic.Int64
	expired   atomic.Int64
	// used is the encoded size of the sessions held, what Stats calls
	// Bytes: bigcache reserves its memory up front, which says nothing of
	// how much the sessions take.
	used atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}

	secrets secretMap
}

type stripe struct {
	mu  sync.Mutex
	buf []byte // encoding buffer, used only under mu
	_   [32]byte
}

// NewBigcache makes a store. ctx is the store's own lifetime: when it is
// cancelled the store closes, as with Close. MaxSize is split into
// power-of-two shards of at least 1 MiB each; one session may use at most
// half a shard, so that storing it never flushes a whole shard.
func NewBigcache(ctx context.Context, cfg BigcacheConfig) (*Bigcache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Bigcache{cfg: cfg, seed: maphash.MakeSeed(), closed: make(chan struct{})}
	bcfg := b.bigcacheConfig()
	b.maxEntry = (bcfg.HardMaxCacheSize << 20) / bcfg.Shards / 2
	// bigcache prints to stdout when its context ends, so it gets one that
	// never does and we close it ourselves.
	bc, err := bigcache.New(context.WithoutCancel(ctx), bcfg)
	if err != nil {
		return nil, fmt.Errorf("creating bigcache: %w", err)
	}
	b.cache.Store(bc)
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-b.closed:
		}
	}()
	return b, nil
}

func (b *Bigcache) bigcacheConfig() bigcache.Config {
	mb := int(b.cfg.MaxSize >> 20)
	shards := 1
	for shards*2 <= mb && shards*2 <= maxShards {
		shards *= 2
	}
	// Rounded up: bigcache counts whole seconds and must never drop an
	// entry before Get would call it expired.
	life := (b.cfg.TTL + time.Second - 1).Truncate(time.Second)
	return bigcache.Config{
		Shards:             shards,
		LifeWindow:         life,
		CleanWindow:        max(min(b.cfg.TTL/2, time.Minute), time.Second),
		MaxEntrySize:       512, // only sizes the first allocation
		HardMaxCacheSize:   mb,
		Verbose:            false, // it would log session ids
		Logger:             zapPrintf{b.cfg.Logger},
		OnRemoveWithReason: b.onRemove,
	}.OnRemoveFilterSet(bigcache.Expired, bigcache.NoSpace)
}

func (b *Bigcache) onRemove(_ string, entry []byte, reason bigcache.RemoveReason) {
	b.used.Add(-int64(len(entry)))
	switch reason {
	case bigcache.NoSpace:
		b.evictions.Add(1)
	case bigcache.Expired:
		b.expired.Add(1)
	}
}

// Config returns the effective configuration, defaults filled in.
func (b *Bigcache) Config() BigcacheConfig { return b.cfg }

// Get returns the session, or ErrNotFound when absent or expired.
func (b *Bigcache) Get(ctx context.Context, id string) (*model.Session, error) {
	bc := b.cache.Load()
	if bc == nil {
		return nil, ErrClosed
	}
	_, s, err := b.read(bc, id)
	return s, err
}

// read returns the raw entry and its decoding. An expired entry gives its
// raw bytes with ErrNotFound; an absent one gives neither.
func (b *Bigcache) read(bc *bigcache.BigCache, id string) ([]byte, *model.Session, error) {
	if !validKey(id) {
		return nil, nil, ErrNotFound
	}
	raw, err := bc.Get(id)
	if errors.Is(err, bigcache.ErrEntryNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading session: %w", err)
	}
	s := new(model.Session)
	// raw is bigcache's copy, ours alone and only ever read: the session
	// shares it rather than copying every string out of it.
	if err := s.UnmarshalBinaryShared(raw); err != nil {
		return raw, nil, fmt.Errorf("stored session: %w", err)
	}
	// bigcache's Get does not look at age; only its janitor drops old
	// entries, up to a CleanWindow late. Expiry is decided here.
	if !b.cfg.Now().Before(s.UpdatedAt.Add(b.cfg.TTL)) {
		b.staleHits.Add(1)
		return raw, nil, ErrNotFound
	}
	return raw, s, nil
}

// Update implements Store.Update. fn gets a freshly decoded session and
// the caller may keep what Update returns.
func (b *Bigcache) Update(ctx context.Context, id string, fn UpdateFunc) (*model.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validKey(id) {
		return nil, errInvalidID
	}
	st := &b.stripes[maphash.String(b.seed, id)&(numStripes-1)]
	st.mu.Lock()
	defer st.mu.Unlock()
	bc := b.cache.Load()
	if bc == nil {
		return nil, ErrClosed
	}
	raw, s, err := b.read(bc, id)
	if errors.Is(err, ErrNotFound) {
		raw, s, err = nil, &model.Session{ID: id}, nil
	}
	if err != nil {
		return nil, err
	}
	version, created := s.Version, s.CreatedAt
	if err := fn(s); err != nil {
		if errors.Is(err, ErrNoChange) {
			return unchanged(st, id, raw, s)
		}
		return nil, err
	}
	stamp(s, id, version, created, b.cfg.Now())
	n, err := b.write(ctx, bc, st, s)
	if err != nil {
		return nil, err
	}
	// The entry replaced (raw, an expired one's too) is gone without a
	// callback.
	b.used.Add(int64(n - len(raw)))
	return s, nil
}

// unchanged returns the stored session after fn backed out with
// ErrNoChange: s itself when fn left it as it was (it encodes to the stored
// bytes, which costs no allocation), else a fresh decoding of the entry.
func unchanged(st *stripe, id string, raw []byte, s *model.Session) (*model.Session, error) {
	if raw == nil {
		return &model.Session{ID: id}, nil
	}
	st.buf = s.AppendBinary(st.buf[:0])
	if cap(st.buf) > maxKeptBuffer {
		defer func() { st.buf = nil }()
	}
	if bytes.Equal(st.buf, raw) {
		return s, nil
	}
	fresh := &model.Session{ID: id}
	return fresh, fresh.UnmarshalBinaryShared(raw)
}

// write stores s and returns its encoded size.
func (b *Bigcache) write(ctx context.Context, bc *bigcache.BigCache, st *stripe, s *model.Session) (int, error) {
	st.buf = s.AppendBinary(st.buf[:0])
	defer func() {
		if cap(st.buf) > maxKeptBuffer {
			st.buf = nil
		}
	}()
	if err := checkSize(ctx, len(st.buf)); err != nil {
		return 0, err
	}
	// Checked first: a failing Set has already evicted the whole shard.
	// Shards are at least 1 MiB, so this limit is never under 512 KiB and
	// MaxEncodedSize is the one that binds; it stays as the store's guard.
	if n := len(st.buf) + len(s.ID) + entryOverhead; n > b.maxEntry {
		return 0, fmt.Errorf("%w: %d bytes, limit %d (raise max_size)", ErrTooLarge, n, b.maxEntry)
	}
	if err := bc.Set(s.ID, st.buf); err != nil {
		return 0, fmt.Errorf("storing session: %w", err)
	}
	return len(st.buf), nil
}

// Delete removes the session, or returns ErrNotFound when absent or expired.
func (b *Bigcache) Delete(ctx context.Context, id string) error {
	if !validKey(id) {
		return ErrNotFound
	}
	st := &b.stripes[maphash.String(b.seed, id)&(numStripes-1)]
	st.mu.Lock()
	defer st.mu.Unlock()
	bc := b.cache.Load()
	if bc == nil {
		return ErrClosed
	}
	raw, _, err := b.read(bc, id)
	if raw == nil {
		return err
	}
	// Expired or undecodable entries go too, but only the former is news.
	if derr := bc.Delete(id); derr != nil && !errors.Is(derr, bigcache.ErrEntryNotFound) {
		return fmt.Errorf("deleting session: %w", derr)
	} else if derr == nil {
		b.used.Add(-int64(len(raw)))
	}
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	return nil
}

// Stats implements Store.Stats. Hits and misses count the lookups of Get,
// Update and Delete; an expired entry found is a miss.
func (b *Bigcache) Stats() Stats {
	st := Stats{Evictions: b.evictions.Load(), Expired: b.expired.Load()}
	bc := b.cache.Load()
	if bc == nil {
		return st
	}
	// Loaded before bigcache's counters, which it always trails, so that
	// Hits cannot go negative.
	stale := b.staleHits.Load()
	bs := bc.Stats()
	st.Entries = bc.Len()
	st.Bytes = b.used.Load()
	st.Reserved = int64(bc.Capacity())
	st.Hits = bs.Hits - stale
	st.Misses = bs.Misses + bs.Collisions + stale
	return st
}

// Close stops bigcache's janitor and drops the entries. It is idempotent;
// afterwards the store's methods return ErrClosed.
func (b *Bigcache) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		if bc := b.cache.Swap(nil); bc != nil {
			_ = bc.Close() // only closes a channel
		}
	})
	return nil
}

// validKey rejects ids bigcache could not store (its key length is 16
// bits) or that the model forbids by length; the handler checks the rest.
func validKey(id string) bool { return id != "" && len(id) <= model.MaxIDLength }

// zapPrintf adapts zap to bigcache's Logger, which is only used when
// Verbose is on.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, v ...any) { z.l.Debug(fmt.Sprintf(format, v...)) }

var _ Store = (*Bigcache)(nil)

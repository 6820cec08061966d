package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"

	"github.com/redis/rueidis"
)

// SecretSize is the length of a secret a store generates: 256 bits.
const SecretSize = 32

// Secrets is implemented by stores that keep secrets for everyone who
// shares them: a key that signs what one node issues must verify on every
// node that serves the same sessions. A secret is generated the first time
// it is asked for and never changes while the store keeps it.
type Secrets interface {
	// Secret returns the secret named name, generating it when the store
	// has none yet.
	Secret(ctx context.Context, name string) ([]byte, error)
}

func newSecret() []byte {
	b := make([]byte, SecretSize)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return b
}

// secretMap keeps a process's secrets: a bigcache store is one node's, so
// its secrets are too, and they live as long as the store (across config
// reloads, not restarts, like its sessions).
type secretMap struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *secretMap) get(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

func (s *secretMap) set(name string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[name] = v
}

func (s *secretMap) secret(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	if _, ok := s.m[name]; !ok {
		s.m[name] = newSecret()
	}
	return s.m[name]
}

// Secret implements Secrets.
func (b *Bigcache) Secret(_ context.Context, name string) ([]byte, error) {
	return b.secrets.secret(name), nil
}

// ProcessSecrets keeps secrets for this process only, as a bigcache store
// does; the zero value is ready to use.
type ProcessSecrets struct{ m secretMap }

// Secret implements Secrets.
func (p *ProcessSecrets) Secret(_ context.Context, name string) ([]byte, error) {
	return p.m.secret(name), nil
}

// secretScript keeps the first secret offered under a name and returns the
// one kept, so that nodes starting at once agree. The key has no expiry:
// losing it makes every signed cookie a stranger.
var secretScript = rueidis.NewLuaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)

// Secret implements Secrets: the secret is the key P + "secret:" + name.
// The one last read is offered again, so that a Redis that lost its data
// gets back the key the fleet signs with rather than a new one; where
// another node already wrote a new one, every node adopts it as it asks.
func (r *Redis) Secret(ctx context.Context, name string) ([]byte, error) {
	offer := r.secrets.get(name)
	if offer == nil {
		offer = newSecret()
	}
	v, err := r.exec(ctx, secretScript, []string{r.cfg.Prefix + "secret:" + name}, []string{string(offer)}).AsBytes()
	if err != nil {
		return nil, r.fail("reading secret "+name, err)
	}
	if len(v) < SecretSize {
		return nil, errors.New("redis: secret " + name + " is shorter than it was written; delete the key to make a new one")
	}
	r.secrets.set(name, v)
	return v, nil
}

var (
	_ Secrets = (*Bigcache)(nil)
	_ Secrets = (*Redis)(nil)
)

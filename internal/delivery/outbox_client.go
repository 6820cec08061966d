package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// saltScript returns the fleet's client-key salt, setting it first if no
// node has: every node must key a client alike for its share to be
// counted fleet-wide.
//
//	KEYS  the salt's key
//	ARGV  a random salt, kept if none is set
var saltScript = rueidis.NewLuaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)

// clientKey is what the outbox keeps in Redis for a client's network: an
// HMAC-SHA256 under the fleet's salt, cut to 64 bits, so that Redis holds
// no address (and an IPv4 address cannot be found by trying all 2^32
// without the salt). "" when there is no client, or no salt yet (Redis
// did not answer): the update is then held to no share rather than to
// one that other nodes would count under another key.
func (o *Outbox) clientKey(ctx context.Context, client string) string {
	if client == "" {
		return ""
	}
	salt := o.salt.Load()
	if salt == nil {
		var b [32]byte
		_, _ = rand.Read(b[:])
		s, err := o.exec(ctx, saltScript, []string{o.cfg.Prefix + "o:client-salt"}, []string{hex.EncodeToString(b[:])}).AsBytes()
		if err != nil {
			o.errs.record("enqueue", err)
			return ""
		}
		salt = &s
		o.salt.Store(salt)
	}
	m := hmac.New(sha256.New, *salt)
	m.Write([]byte(client))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

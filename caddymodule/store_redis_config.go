package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/sessiontap/caddy-sessiontap/cache"
)

// applyURL sets cfg's address and credentials from a redis:// or rediss://
// URL and says whether it asks for TLS. Errors never quote the URL nor
// url.Parse's message, which would: it may hold a password.
func applyURL(cfg *cache.RedisConfig, raw string, tlsOn bool) (bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, errors.New("not a valid URL such as redis://host:6379")
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		tlsOn = true
	default:
		return false, fmt.Errorf("scheme must be redis or rediss, not %q", u.Scheme)
	}
	if u.Host == "" {
		return false, errors.New("no host:port")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	// cache.RedisConfig has no database option: refuse rather than ignore.
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return false, fmt.Errorf("database %q: only database 0 is supported", db)
	}
	if u.RawQuery != "" {
		return false, fmt.Errorf("%s: query parameters are not supported", u.Scheme+"://"+host)
	}
	if u.User != nil {
		if cfg.Username != "" || cfg.Password != "" {
			return false, fmt.Errorf("%s: credentials both in the url and in username/password", u.Scheme+"://"+host)
		}
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	cfg.Addresses = []string{host}
	return tlsOn, nil
}

// poolKey identifies a client by every setting that shapes it. Secrets are
// only hashed into it: the pool's keys are not meant to be secret.
func poolKey(name string, cfg cache.RedisConfig) string {
	secret := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	tlsMode := "off"
	if cfg.TLS != nil {
		tlsMode = fmt.Sprint("on/", cfg.TLS.InsecureSkipVerify)
	}
	b, _ := json.Marshal([]any{name, cfg.Addresses, cfg.Cluster, cfg.Sentinels, cfg.MasterName, secret(cfg.Username), secret(cfg.Password), tlsMode,
		cfg.Prefix, cfg.TTL, cfg.Timeout, secret(string(cfg.HashKey))})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// scrub removes secrets from an error message, should a client library
// ever echo one.
func scrub(err error, secrets ...string) string {
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 3 { // shorter would mangle innocent text
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}

// tlsHint is what to check when a connection timed out or was hung up
// on: what a TLS client and a plain server (or the other way round) do.
func tlsHint(cfg cache.RedisConfig, err error) string {
	msg := err.Error()
	if !strings.Contains(msg, "deadline exceeded") && !strings.Contains(msg, "EOF") && !strings.Contains(msg, "tls:") {
		return ""
	}
	if cfg.TLS != nil {
		return " (tls is on: does the server speak TLS on that port?)"
	}
	return " (if the server expects TLS, add tls to the store block)"
}

package cache

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// where names the servers of cfg for errors.
func (c RedisConfig) where() string {
	if len(c.Sentinels) > 0 {
		return fmt.Sprintf("the primary %q of the sentinels %s", c.MasterName, strings.Join(c.Sentinels, ","))
	}
	return strings.Join(c.Addresses, ",")
}

// connectError says what connecting found, and what to do when the
// configuration names the wrong kind of server.
func connectError(cfg RedisConfig, err error) error {
	if len(cfg.Addresses) > 1 && strings.Contains(strings.ToLower(err.Error()), "cluster support disabled") {
		return fmt.Errorf("redis: %s: several addresses are the seed nodes of one Redis Cluster, but this server is standalone: "+
			"give its one address (a primary with replicas: sentinel and master_name)", cfg.where())
	}
	return fmt.Errorf("redis: connecting to %s: %w", cfg.where(), err)
}

// checkRole refuses an address that names a sentinel or a replica: every
// write would fail. A server that does not answer ROLE (an ACL without
// it) is taken as it is.
func checkRole(ctx context.Context, c rueidis.Client, cfg RedisConfig) error {
	role, err := c.Do(ctx, c.B().Role().Build()).ToArray()
	if err != nil || len(role) == 0 {
		return nil
	}
	switch name, _ := role[0].ToString(); name {
	case "sentinel":
		return fmt.Errorf("redis: %s is a Redis Sentinel, not a server: give the sentinels as sentinel <host:port>... with master_name <name>", cfg.where())
	case "slave":
		return fmt.Errorf("redis: %s is a replica, which refuses writes: give the primary's address, or sentinel and master_name to follow failovers", cfg.where())
	}
	return nil
}

// newClient connects a client for cfg: to the server, or to the primary
// the sentinels name.
func newClient(cfg RedisConfig) (rueidis.Client, error) {
	init := cfg.Addresses
	var sentinel rueidis.SentinelOption
	if len(cfg.Sentinels) > 0 {
		init = cfg.Sentinels
		sentinel = rueidis.SentinelOption{
			MasterSet: cfg.MasterName,
			Dialer:    net.Dialer{Timeout: 10 * cfg.Timeout},
			TLSConfig: cfg.TLS,
			// Besides +switch-master events, which a client can miss
			// (it was reconnecting): a missed one would leave writes on
			// a demoted primary, refused as READONLY, for good.
			TopologyRefreshInterval: 2 * time.Second,
		}
	}
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress: init,
		Sentinel:    sentinel,
		Username:    cfg.Username,
		Password:    cfg.Password,
		TLSConfig:   cfg.TLS,
		// Connecting is a few round trips (TCP, TLS, HELLO, AUTH).
		Dialer: net.Dialer{Timeout: 10 * cfg.Timeout},
		// Sessions are read fresh: another node may just have written.
		DisableCache: true,
		// A dead server is noticed within this even on a busy pipeline.
		ConnWriteTimeout: max(20*cfg.Timeout, time.Second),
	})
}

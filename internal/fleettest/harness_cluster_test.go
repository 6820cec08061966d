//go:build linux

package fleettest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three primaries with a replica each, six
// redis-servers of the test's own, stopped when the test ends.
type Cluster struct {
	Servers []*Redis
	// NodeTimeout is cluster-node-timeout: how long a primary may not
	// answer before its replica takes over.
	NodeTimeout time.Duration
}

// StartCluster starts the six servers, joins them with redis-cli --cluster
// create and waits until every node sees the cluster whole and every
// replica has its copy.
func StartCluster(t testing.TB, nodeTimeout time.Duration) *Cluster {
	t.Helper()
	c := &Cluster{NodeTimeout: nodeTimeout}
	dir := t.TempDir()
	for i := range 6 {
		c.Servers = append(c.Servers, StartRedis(t, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)),
			"--cluster-port", strconv.Itoa(FreePort(t)),
			"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10)))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if !Poll(30*time.Second, c.whole) {
		t.Fatal("the cluster never became whole")
	}
	return c
}

// Addrs are the six servers' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, r := range c.Servers {
		out = append(out, r.Addr)
	}
	return out
}

// whole: every running server sees the cluster ok, and three primaries
// each have a replica in sync.
func (c *Cluster) whole() bool {
	linked := 0
	for _, r := range c.Servers {
		if !r.p.running() {
			continue
		}
		if infoText(r, "CLUSTER", "INFO", "cluster_state") != "ok" {
			return false
		}
		if infoField(r, "replication", "role") == "slave" {
			if infoField(r, "replication", "master_link_status") != "up" {
				return false
			}
			linked++
		}
	}
	return linked == 3
}

// Primaries are the running servers that say they are primaries.
func (c *Cluster) Primaries() []*Redis {
	var out []*Redis
	for _, r := range c.Servers {
		if r.p.running() && infoField(r, "replication", "role") == "master" {
			out = append(out, r)
		}
	}
	return out
}

// infoText is one field of a "name:value" reply (CLUSTER INFO), "".
func infoText(r *Redis, cmd, sub, name string) string {
	text, err := r.Do(cmd, sub)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

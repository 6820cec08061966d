package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// On a Redis Cluster the store's keys spread over the primaries by their
// hash tags (see keytag): each script touches one session's keys, in one
// slot; what reads many sessions (Linked, Range) sends one command per
// slot or node; what reads the server (INFO) reads every primary.

// primaries returns a client per primary of the cluster, in address
// order: the first node of each slot range CLUSTER SLOTS lists (a command
// the client needs anyway to find the slots, so an ACL that lets it work
// lets this work too).
func (r *Redis) primaries(ctx context.Context) ([]rueidis.Client, error) {
	ranges, err := r.do(ctx, r.c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, err
	}
	nodes := r.c.Nodes()
	seen := map[string]bool{}
	var addrs []string
	for _, rg := range ranges {
		f, err := rg.ToArray()
		if err != nil || len(f) < 3 {
			continue
		}
		node, err := f[2].ToArray()
		if err != nil || len(node) < 2 {
			continue
		}
		host, _ := node[0].ToString()
		port, _ := node[1].AsInt64()
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		if seen[addr] {
			continue
		}
		if nodes[addr] == nil {
			// Not known yet (slots just moved): leaving it out would skip
			// its sessions without a word.
			return nil, fmt.Errorf("the primary %s is not known to the client yet: try again", addr)
		}
		seen[addr] = true
		addrs = append(addrs, addr)
	}
	if len(addrs) == 0 {
		return nil, errors.New("CLUSTER SLOTS names no primary")
	}
	sort.Strings(addrs)
	out := make([]rueidis.Client, len(addrs))
	for i, a := range addrs {
		out[i] = nodes[a]
	}
	return out, nil
}

// doOn runs one command on one node under Timeout.
func (r *Redis) doOn(ctx context.Context, node rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return bounded(ctx, func() rueidis.RedisResult { return node.Do(ctx, cmd) })
}

// Info returns the fields of INFO sections (stats, memory, ...) of each
// server the store writes to: the server, or every primary of a cluster.
func (r *Redis) Info(ctx context.Context, sections ...string) ([]map[string]string, error) {
	nodes := []rueidis.Client{r.c}
	if r.cluster {
		var err error
		if nodes, err = r.primaries(ctx); err != nil {
			return nil, r.fail("finding the cluster's primaries", err)
		}
	}
	out := make([]map[string]string, 0, len(nodes))
	for _, n := range nodes {
		s, err := r.doOn(ctx, n, n.B().Info().Section(sections...).Build()).ToString()
		if err != nil {
			return nil, r.fail("reading INFO", err)
		}
		fields := map[string]string{}
		for line := range strings.Lines(s) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				fields[k] = v
			}
		}
		out = append(out, fields)
	}
	return out, nil
}

// Cluster reports whether the store's server is a Redis Cluster.
func (r *Redis) Cluster() bool { return r.cluster }

package cache

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/redis/rueidis"
)

// On a Redis Cluster the store's keys spread over the primaries by their
// hash tags (see keytag): each script touches one session's keys, in one
// slot; what reads many sessions (Linked, Range) sends one command per
// slot or node; what reads the server (INFO) reads every primary.

// primaries returns a client per primary of the cluster, in address
// order: the nodes the client knows that say, by ROLE, they are one.
func (r *Redis) primaries(ctx context.Context) ([]rueidis.Client, error) {
	nodes := r.c.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var out []rueidis.Client
	var errs []error
	for _, a := range addrs {
		n := nodes[a]
		role, err := r.doOn(ctx, n, n.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			errs = append(errs, err) // a node down: its replica, promoted, stands in
			continue
		}
		if name, _ := role[0].ToString(); name == "master" {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.Join(append(errs, errors.New("no primary answered"))...)
	}
	return out, nil
}

// doOn runs one command on one node under Timeout.
func (r *Redis) doOn(ctx context.Context, node rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	return bounded(ctx, func() rueidis.RedisResult { return node.Do(ctx, cmd) })
}

// Info returns the fields of one INFO section (stats, memory, ...) of
// each server the store writes to: the server, or every primary of a
// cluster.
func (r *Redis) Info(ctx context.Context, section string) ([]map[string]string, error) {
	nodes := []rueidis.Client{r.c}
	if r.cluster {
		var err error
		if nodes, err = r.primaries(ctx); err != nil {
			return nil, r.fail("finding the cluster's primaries", err)
		}
	}
	out := make([]map[string]string, 0, len(nodes))
	for _, n := range nodes {
		s, err := r.doOn(ctx, n, n.B().Info().Section(section).Build()).ToString()
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

package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// On a Redis Cluster two nodes share a sink's sharded queue: every
// session reaches its last version, in order, one attempt at a time, and
// the queue's keys spread over every primary.
func TestClusterOutboxTwoNodes(t *testing.T) {
	prefix := redistest.ClusterPrefix(t)
	gate := make(chan struct{})
	sink := &fakeSink{name: "hook", gate: gate}
	cfg := OutboxConfig{Config: Config{Concurrency: 4}}
	a := newTestNodeOn(t, redistest.ClusterClient(t), prefix, cfg, nil)
	b := newTestNodeOn(t, redistest.ClusterClient(t), prefix, cfg, nil)
	a.AddSink(sink, SinkOptions{})
	b.AddSink(sink, SinkOptions{})
	const sessions, versions = 60, 10
	enqueueAlternating(a, b, sessions, versions)
	// While the sink holds its first calls, the waiting sessions sit in
	// the shards' due sets: on every primary.
	primaries := 0
	for _, node := range redistest.ClusterClient(t).Nodes() {
		role, _ := node.Do(context.Background(), node.B().Role().Build()).ToArray()
		if len(role) == 0 {
			continue
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		keys, err := node.Do(context.Background(), node.B().Keys().Pattern(prefix+"o:hook:*:due").Build()).AsStrSlice()
		if err == nil && len(keys) > 0 {
			primaries++
		}
	}
	if primaries != 3 {
		t.Errorf("the queue's due sets are on %d nodes, want all 3 primaries", primaries)
	}
	close(gate)
	checkInOrder(t, sink, sessions, versions)
	eventually(t, "nothing pending", func() bool { return a.Stats()[0].Pending == 0 })
}

// The queue's bound holds on a cluster too, shard by shard: with room for
// 640 sessions over 64 shards (10 each), no more than 640 are ever held.
func TestClusterOutboxBounded(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	sink := &fakeSink{name: "hook", gate: gate}
	n := newTestNodeOn(t, redistest.ClusterClient(t), redistest.ClusterPrefix(t),
		OutboxConfig{Config: Config{Concurrency: 1, QueueSize: 640}}, nil)
	n.AddSink(sink, SinkOptions{})
	for s := range 1500 {
		n.Enqueue(newUpd(fmt.Sprintf("b%03d", s), 1, model.ChangeCart, "x"))
	}
	eventually(t, "updates past the bound dropped", func() bool { return n.Stats()[0].Dropped > 0 })
	if p := n.Stats()[0].Pending; p > 640 || p < 500 {
		t.Errorf("%d sessions held, want at most 640 (and most of them)", p)
	}
}

// The free slots go to the shards that had sessions due, all of them to
// one when only it had: a hot shard is not held to a 64th of the slots,
// and an idle one costs no slot.
func TestShardedClaimSplit(t *testing.T) {
	q := &shardedQueue{shards: make([]*redisQueue, 64), due: make([]bool, 64)}
	sum := func(p []int) (n int) {
		for _, v := range p {
			n += v
		}
		return n
	}
	for range 3 {
		if p := q.split(8); sum(p) != 8 || slices.Max(p) != 1 {
			t.Fatalf("none due: parts %v, want 8 shards with one each", p)
		}
	}
	q.due[5] = true
	if p := q.split(8); p[5] != 8 {
		t.Fatalf("shard 5 due: parts %v, want all 8 there", p)
	}
	q.due[9] = true
	if p := q.split(3); p[5]+p[9] != 3 || p[5] == 0 || p[9] == 0 {
		t.Fatalf("shards 5 and 9 due: parts %v", p)
	}
}

// A shard has room for the largest session whatever queue_bytes says: a
// 4 KiB session under queue_bytes of 128 KiB (2 KiB a shard) is queued
// and delivered, as on a standalone server.
func TestClusterOutboxTakesASessionLargerThanAShardsBytes(t *testing.T) {
	sink := &fakeSink{name: "hook"}
	n := newTestNodeOn(t, redistest.ClusterClient(t), redistest.ClusterPrefix(t),
		OutboxConfig{Config: Config{Concurrency: 1}, QueueBytes: 128 << 10}, nil)
	n.AddSink(sink, SinkOptions{})
	u := newUpd("big", 1, model.ChangeCart, strings.Repeat("x", 4<<10))
	n.Enqueue(u)
	eventually(t, "the 4 KiB session delivered", func() bool { return lastVersion(sink, "big") == 1 })
	if d := n.Stats()[0].Dropped; d != 0 {
		t.Errorf("%d dropped", d)
	}
}

package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// A test node: an outbox with its own Redis client, as another process
// would have, on a prefix shared with the test's other nodes.
type testNode struct {
	*Engine
	client  rueidis.Client
	results *results
}

func newTestClient(t *testing.T) rueidis.Client { return newTestClientAt(t, redistest.Addr(t)) }

func newTestClientAt(t *testing.T, addr string) rueidis.Client {
	return newTestClientAs(t, addr, "", "")
}

func newTestClientAs(t *testing.T, addr, user, password string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true,
		Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newTestNode starts an outbox with fast backoffs and polls on prefix.
func newTestNode(t *testing.T, prefix string, cfg OutboxConfig, log *zap.Logger) *testNode {
	t.Helper()
	return newTestNodeAt(t, redistest.Addr(t), prefix, cfg, log)
}

// newTestNodeAt is newTestNode with Redis at addr (a redistest.Proxy).
func newTestNodeAt(t *testing.T, addr, prefix string, cfg OutboxConfig, log *zap.Logger) *testNode {
	t.Helper()
	return newTestNodeOn(t, newTestClientAt(t, addr), prefix, cfg, log)
}

// newTestNodeOn is newTestNode on client c (a cluster's, say).
func newTestNodeOn(t *testing.T, c rueidis.Client, prefix string, cfg OutboxConfig, log *zap.Logger) *testNode {
	t.Helper()
	cfg.Prefix = prefix
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Millisecond
	}
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	o, err := NewOutbox(c, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	r := collectResults(t, o)
	return &testNode{Engine: o, client: c, results: r}
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lastVersion is the highest version sink got for id.
func lastVersion(f *fakeSink, id string) uint64 {
	vs := f.versions(id)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// awaitFleet waits until the nodes' first sinks' counter sums to n.
func awaitFleet(t *testing.T, what string, counter func(SinkStats) uint64, n uint64, nodes ...*testNode) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d %s", n, what), func() bool {
		var sum uint64
		for _, node := range nodes {
			sum += counter(node.Stats()[0])
		}
		return sum == n
	})
}

// mortalNode is a test node whose Redis access can be cut for good, as
// if its process died: it connects as an ACL user of its own, which
// kill disables and disconnects. (Closing a rueidis client is not
// enough: it reconnects on its next command.)
func mortalNode(t *testing.T, prefix string, cfg OutboxConfig) (*testNode, func()) {
	t.Helper()
	admin := newTestClient(t)
	user := fmt.Sprintf("node-%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := admin.Do(ctx, admin.B().AclSetuser().Username(user).Rule("on", ">pw", "~*", "+@all").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(ctx, admin.B().AclDeluser().Username(user).Build()) })
	cfg.Prefix = prefix
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	c := newTestClientAs(t, redistest.Addr(t), user, "pw")
	o, err := NewOutbox(c, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(ctx) })
	kill := func() {
		for _, cmd := range []rueidis.Completed{
			admin.B().AclSetuser().Username(user).Rule("off").Build(),
			admin.B().ClientKill().User(user).Build(),
		} {
			if err := admin.Do(ctx, cmd).Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &testNode{Engine: o, client: c}, kill
}

// enqueueAlternating queues versions 1 to versions of sessions s00, s01, …
// at once, odd versions through a and even ones through b.
func enqueueAlternating(a, b *testNode, sessions int, versions uint64) {
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Go(func() {
			id := fmt.Sprintf("s%02d", s)
			for v := uint64(1); v <= versions; v++ {
				node := a
				if v%2 == 0 {
					node = b
				}
				node.Enqueue(newUpd(id, v, model.ChangeCart, fmt.Sprint(v)))
			}
		})
	}
	wg.Wait()
}

// checkInOrder waits for every session's last version at sink, and checks
// the versions it got increased and never overlapped.
func checkInOrder(t *testing.T, sink *fakeSink, sessions int, versions uint64) {
	t.Helper()
	for s := range sessions {
		id := fmt.Sprintf("s%02d", s)
		eventually(t, id+" delivered to its last version", func() bool { return lastVersion(sink, id) == versions })
		if vs := sink.versions(id); !strictlyIncreasing(vs) {
			t.Errorf("%s delivered out of order: %v", id, vs)
		}
	}
	if sink.overlap.Load() {
		t.Error("two attempts for one session were in flight at once")
	}
}

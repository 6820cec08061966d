package cache

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// readmeACL is the ACL the README's "What Redis must be" gives the store's
// user, past its key pattern: TestREADMEGivesTheTestedACL keeps the two
// alike.
const readmeACL = "+@read +@write +@scripting +@connection +time +info +cluster|slots +cluster|shards"

// A user with only the README's ACL can do all the store does, on a
// standalone server and on a cluster.
func TestRedisWorksWithTheREADMEsACL(t *testing.T) {
	t.Run("standalone", func(t *testing.T) { testACL(t, rawRedis(t), newRedisStore) })
	t.Run("cluster", func(t *testing.T) { testACL(t, clusterRaw(t), newClusterStore) })
}

func testACL(t *testing.T, admin rueidis.Client, newStore func(testing.TB, RedisConfig) *Redis) {
	prefix := "sessiontap-acl-" + itoa(int64(len(t.Name()))) + ":"
	user := "sessiontap-acl-test"
	rules := append([]string{"reset", "on", ">acl-test-pw", "~" + prefix + "*"}, strings.Fields(readmeACL)...)
	for _, node := range admin.Nodes() {
		if err := node.Do(context.Background(), node.B().AclSetuser().Username(user).Rule(rules...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, node := range admin.Nodes() {
			node.Do(context.Background(), node.B().AclDeluser().Username(user).Build())
		}
	})
	r := newStore(t, RedisConfig{Prefix: prefix, Username: user, Password: "acl-test-pw"})
	ctx := WithRelay(context.Background(), "acl")
	must(t)(r.Update(ctx, "acl-1", customer("c-acl")))
	if _, err := r.Get(ctx, "acl-1"); err != nil {
		t.Errorf("Get: %v", err)
	}
	if got := linkedIDs(t, r, "c-acl"); got != "[acl-1]" {
		t.Errorf("Linked: %s", got)
	}
	n := 0
	if err := r.Range(ctx, func(*model.Session) bool { n++; return true }); err != nil || n != 1 {
		t.Errorf("Range: %d sessions, %v", n, err)
	}
	if _, err := r.Unrelayed(ctx, "acl", 0, 10); err != nil {
		t.Errorf("Unrelayed: %v", err)
	}
	if info, err := r.Info(ctx, "memory"); err != nil || len(info) == 0 || info[0]["used_memory"] == "" {
		t.Errorf("Info: %v, %v", len(info), err)
	}
	if err := r.Delete(ctx, "acl-1"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// The README gives exactly the ACL tested above.
func TestREADMEGivesTheTestedACL(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "ACL SETUSER sessiontap on >secret ~sessiontap:* " + readmeACL
	if !strings.Contains(string(b), want) {
		t.Errorf("README.md does not give the tested ACL: %q", want)
	}
}

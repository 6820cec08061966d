package luamulti

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

var echo = New(`return KEYS[1] .. '=' .. ARGV[1]`)

// Runs in 64 slots on a cluster: each answers, after a SCRIPT FLUSH too
// (EVAL where the node lacks the script), and no SCRIPT LOAD is sent to
// any node, a replica least of all.
func TestExecOnACluster(t *testing.T) {
	c := redistest.ClusterClient(t)
	prefix := redistest.ClusterPrefix(t)
	ctx := context.Background()
	for _, n := range c.Nodes() {
		n.Do(ctx, n.B().ScriptFlush().Build())
	}
	loads := scriptLoads(t, c)
	for round := range 2 {
		runs := make([]rueidis.LuaExec, keytag.Shards)
		for i := range runs {
			runs[i] = rueidis.LuaExec{Keys: []string{prefix + keytag.Tag(i)}, Args: []string{strconv.Itoa(i)}}
		}
		for i, r := range echo.Exec(ctx, c, runs) {
			got, err := r.ToString()
			if want := prefix + keytag.Tag(i) + "=" + strconv.Itoa(i); err != nil || got != want {
				t.Fatalf("round %d, run %d: %q, %v; want %q", round, i, got, err, want)
			}
		}
	}
	if n := scriptLoads(t, c); n != loads {
		t.Errorf("%d SCRIPT LOADs sent", n-loads)
	}
}

var loadCalls = regexp.MustCompile(`(?m)^cmdstat_script\|load:calls=(\d+)`)

// scriptLoads counts the SCRIPT LOADs every node has run.
func scriptLoads(t *testing.T, c rueidis.Client) int {
	total := 0
	for _, n := range c.Nodes() {
		info, err := n.Do(context.Background(), n.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		if m := loadCalls.FindStringSubmatch(info); m != nil {
			v, _ := strconv.Atoi(m[1])
			total += v
		}
	}
	return total
}

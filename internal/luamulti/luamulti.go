// Package luamulti runs one Lua script many times in one pipeline, each
// run routed to its keys' slot: EVALSHA, and EVAL only where a server
// answers NOSCRIPT.
//
// rueidis's Lua.ExecMulti first loads the script on every node the client
// knows, replicas too, on every call, and fails every run when one node
// does not answer: on a cluster, one replica down would stop every shard.
package luamulti

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// Script is a Lua script and its SHA-1.
type Script struct{ body, sha string }

// New returns the script whose source is body.
func New(body string) Script {
	sum := sha1.Sum([]byte(body))
	return Script{body: body, sha: hex.EncodeToString(sum[:])}
}

// Exec runs the script once per run, all in one round trip per node (two
// where a node had not loaded it), and returns their results in order.
func (s Script) Exec(ctx context.Context, c rueidis.Client, runs []rueidis.LuaExec) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(runs))
	for i, r := range runs {
		cmds[i] = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(r.Keys))).Key(r.Keys...).Arg(r.Args...).Build()
	}
	res := c.DoMulti(ctx, cmds...)
	var again []int
	for i, r := range res {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return res
	}
	cmds = cmds[:0]
	for _, i := range again {
		r := runs[i]
		cmds = append(cmds, c.B().Eval().Script(s.body).Numkeys(int64(len(r.Keys))).Key(r.Keys...).Arg(r.Args...).Build())
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		res[again[j]] = r
	}
	return res
}

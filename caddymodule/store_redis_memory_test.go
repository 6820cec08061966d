package caddymodule

import "testing"

// Evictions are counted per server: a failover to a primary with a count
// of its own, or a restart that starts the count over, is no eviction.
func TestNewEvictionsPerServer(t *testing.T) {
	w := &memoryWatch{}
	look := func(servers ...[2]string) int64 {
		var infos []map[string]string
		for _, s := range servers {
			infos = append(infos, map[string]string{"run_id": s[0], "evicted_keys": s[1]})
		}
		return w.newEvictions(infos)
	}
	steps := []struct {
		servers []([2]string)
		want    int64
	}{
		{[][2]string{{"a", "10"}, {"b", "5"}}, 0},  // the first look counts nothing
		{[][2]string{{"a", "12"}, {"b", "5"}}, 2},  // a evicted 2
		{[][2]string{{"c", "900"}, {"b", "6"}}, 1}, // a failed over to c: c's 900 are not new
		{[][2]string{{"c", "901"}, {"b", "0"}}, 1}, // b restarted: its count starts over
		{[][2]string{{"c", "901"}, {"b", "3"}}, 3}, // and counts again from there
	}
	for i, s := range steps {
		if got := look(s.servers...); got != s.want {
			t.Errorf("look %d: %d new evictions, want %d", i, got, s.want)
		}
	}
}

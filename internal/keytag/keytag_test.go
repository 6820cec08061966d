package keytag

import "testing"

// The tags name keys that nodes of other versions read: they must not
// change. These are FNV-1a 32 of the ids, modulo 64.
func TestTagsAreStable(t *testing.T) {
	for id, want := range map[string]string{"": "{05}", "a": "{2c}", "session-1": "{0d}"} {
		if got := For(id); got != want {
			t.Errorf("For(%q) = %s, want %s", id, got, want)
		}
	}
	seen := map[string]bool{}
	for n := range Shards {
		tag := Tag(n)
		if len(tag) != 4 || tag[0] != '{' || tag[3] != '}' || seen[tag] {
			t.Fatalf("Tag(%d) = %q", n, tag)
		}
		seen[tag] = true
	}
}

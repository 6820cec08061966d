// Package keytag names the Redis Cluster hash tags that spread a fleet's
// keys over a cluster's slots: the session store's and the delivery
// outbox's keys of one session carry the same tag, the same on every node.
package keytag

// Shards is how many tags there are: "{00}" to "{3f}". 64 spread a
// fleet's sessions over the slots of a cluster's primaries.
const Shards = 64

// Of is id's shard, 0 to Shards-1: FNV-1a, the same on every node (the
// tag names keys that other nodes read).
func Of(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % Shards)
}

// Tag is shard n's hash tag, "{00}" to "{3f}".
func Tag(n int) string {
	const hexd = "0123456789abcdef"
	return string([]byte{'{', hexd[n>>4&15], hexd[n&15], '}'})
}

// For is id's hash tag: Tag(Of(id)).
func For(id string) string { return Tag(Of(id)) }

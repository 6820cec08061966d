package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// EventID is the idempotency key of the delivery of session s, at its
// version, to the sink named sink. It is derived, not drawn, so that a
// redelivery — a retry, or another node taking over after a crash —
// carries the same key and the upstream can drop the duplicate. CreatedAt
// is part of it because a deleted session's id may come back (the same
// cookie) with its versions starting again at 1.
func EventID(sink string, s *model.Session) string {
	h := sha256.New()
	h.Write([]byte(sink))
	h.Write([]byte{0})
	h.Write([]byte(s.ID))
	var b [17]byte
	binary.BigEndian.PutUint64(b[1:9], uint64(s.CreatedAt.UnixMicro()))
	binary.BigEndian.PutUint64(b[9:], s.Version)
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// withEventID returns a copy of u carrying its event id for sink. The
// copy is shallow: the session's slices stay shared, and nobody writes them.
func withEventID(u *Update, sink string) *Update {
	c := *u
	c.EventID = EventID(sink, &u.Session)
	return &c
}

// State is what a sink remembers of sessions between deliveries (the
// Emporix context version it last wrote, the Talon.One sessions it
// closed). With the in-memory queues each sink keeps its own bounded
// memory; with Redis's, the engine gives sinks a State in Redis, so that
// whichever node delivers next knows it. Lookups that fail report "not known", which a
// sink must survive: the state saves requests, it does not decide results.
type State interface {
	Get(ctx context.Context, key string) (string, bool)
	Put(ctx context.Context, key, value string)
}

// Stateful is a Sink that keeps State; an engine may hand it its own
// before the first delivery.
type Stateful interface {
	UseState(State)
}

// memState is a State in this process's memory, bounded, least recently
// used first out.
type memState struct{ m *boundedMap[string] }

func newMemState(max int) State { return memState{newBoundedMap[string](max)} }

func (s memState) Get(_ context.Context, key string) (string, bool) { return s.m.get(key) }
func (s memState) Put(_ context.Context, key, value string)         { s.m.put(key, value) }

// The sinks whose memory must be shared across a fleet.
var (
	_ Stateful = (*Emporix)(nil)
	_ Stateful = (*TalonOne)(nil)
)

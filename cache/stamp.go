package cache

import (
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// stamp sets what the store owns, whatever fn did to it: the id, the next
// version, UpdatedAt = now, and CreatedAt kept (or now for a new session).
// Shared by the stores so that they stamp sessions identically.
func stamp(s *model.Session, id string, version uint64, created, now time.Time) {
	now = now.UTC()
	s.ID = id
	s.Version = version + 1
	s.UpdatedAt = now
	s.CreatedAt = created
	if created.IsZero() {
		s.CreatedAt = now
	}
}

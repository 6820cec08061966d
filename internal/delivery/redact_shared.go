package delivery

import (
	"slices"
	"sync"
)

// Secrets are a configuration's secrets, shared by all its sinks so that
// each one redacts every one of them from what its upstream answers: an
// upstream may show what another sink sent it (an endpoint two forwards
// share, a request bin). Sinks whose secrets change while they run
// (Emporix's access tokens) add them as a source at construction. A nil
// *Secrets holds none.
type Secrets struct {
	fixed   []string
	mu      sync.Mutex
	sources []func() []string
}

// NewSecrets returns the shared secrets, starting with fixed.
func NewSecrets(fixed ...string) *Secrets {
	return &Secrets{fixed: slices.Clone(fixed)}
}

// addSource adds a source of secrets that change.
func (s *Secrets) addSource(f func() []string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sources = append(s.sources, f)
}

func (s *Secrets) list() []string {
	if s == nil {
		return nil
	}
	return s.fixed
}

// current is what the sources hold now.
func (s *Secrets) current() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	sources := slices.Clone(s.sources)
	s.mu.Unlock()
	var out []string
	for _, f := range sources {
		out = append(out, f()...)
	}
	return out
}

// sinkRedactor is the redactor of a sink with secrets of its own, the
// shared ones, and own secrets that change (dynamic, may be nil).
func sinkRedactor(own []string, shared *Secrets, dynamic func() []string) *Redactor {
	return NewRedactor(append(slices.Clone(own), shared.list()...), func() []string {
		var out []string
		if dynamic != nil {
			out = dynamic()
		}
		return append(out, shared.current()...)
	})
}

package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxHistory is how many changes a session remembers unless the
// configuration says otherwise.
const DefaultMaxHistory = 20

// MaxPathLength bounds a history entry's page path: longer paths are cut.
const MaxPathLength = 200

// Source is where a change to a session came from.
type Source string

// The sources of changes.
const (
	SourceHTML     Source = "html"     // Nosto tagging in a proxied HTML page
	SourceJSON     Source = "json"     // a proxied cart JSON route
	SourceCollect  Source = "collect"  // the first-party collect endpoint
	SourceAPI      Source = "api"      // the session-context API
	SourceUpstream Source = "upstream" // an upstream's answer (Talon.One effects, Emporix versions)
)

// HistoryEntry is one change of a session, for operators. It names what
// changed, never the values: no email, name or reference is ever in it.
type HistoryEntry struct {
	// Version is the session's version the change produced.
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
	Source  Source    `json:"source"`
	// Changes are the parts that changed.
	Changes Change `json:"changes"`
	// Path is the captured page's or route's path, without its query;
	// for upstream feedback, the sink's name.
	Path string `json:"path,omitempty"`
}

// Record appends e to the session's history, keeping the newest max
// entries (max <= 0 keeps none), and returns e as kept: its path cleaned
// (CleanPath), which is what anything else shown the change must use.
// A page view that repeats the last entry (a reload: only the page
// changed, from the same source and path) replaces it instead, so that
// reloads do not push the cart's changes out of the history.
func (s *Session) Record(e HistoryEntry, max int) HistoryEntry {
	e.Path = CleanPath(e.Path)
	if max <= 0 {
		s.History = nil
		return e
	}
	if n := len(s.History); n > 0 && e.Changes == ChangeAction {
		if last := &s.History[n-1]; last.Changes == ChangeAction && last.Source == e.Source && last.Path == e.Path {
			*last = e
			return e
		}
	}
	if n := len(s.History) + 1 - max; n > 0 {
		// Shifted in place: the slice is the session's own.
		s.History = append(s.History[:0], s.History[n:]...)
	}
	s.History = append(s.History, e)
	return e
}

// CleanPath is a path as a history keeps it: without query or fragment
// (they may carry personal data), at most MaxPathLength bytes, cut on a
// character boundary.
func CleanPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if len(p) <= MaxPathLength {
		return p
	}
	p = p[:MaxPathLength]
	for len(p) > 0 && !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p
}

// changeNames are the JSON names of Change bits, in bit order.
var changeNames = []string{"cart", "customer", "order", "page", "context", "feedback", "consent"}

// Names lists the parts c names, in a fixed order.
func (c Change) Names() []string {
	names := []string{}
	for i, n := range changeNames {
		if c&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

// MarshalJSON writes c as the list of the parts it names, e.g.
// ["cart","page"].
func (c Change) MarshalJSON() ([]byte, error) { return json.Marshal(c.Names()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Change) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*c = 0
	for _, n := range names {
		i := indexOf(changeNames, n)
		if i < 0 {
			return fmt.Errorf("unknown change %q", n)
		}
		*c |= 1 << i
	}
	return nil
}

func indexOf(names []string, n string) int {
	for i, v := range names {
		if v == n {
			return i
		}
	}
	return -1
}

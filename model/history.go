package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
// entries; max <= 0 keeps none.
func (s *Session) Record(e HistoryEntry, max int) {
	if max <= 0 {
		s.History = nil
		return
	}
	if i := strings.IndexAny(e.Path, "?#"); i >= 0 {
		e.Path = e.Path[:i]
	}
	if len(e.Path) > MaxPathLength {
		e.Path = e.Path[:MaxPathLength]
	}
	if n := len(s.History) + 1 - max; n > 0 {
		// Shifted in place: the slice is the session's own.
		s.History = append(s.History[:0], s.History[n:]...)
	}
	s.History = append(s.History, e)
}

// changeNames are the JSON names of Change bits, in bit order.
var changeNames = []string{"cart", "customer", "order", "page", "context", "feedback"}

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

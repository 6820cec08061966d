package model

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestRecordKeepsTheNewestAndCutsQueries(t *testing.T) {
	var s Session
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for v := uint64(1); v <= 25; v++ {
		s.Record(HistoryEntry{Version: v, At: at, Source: SourceHTML, Changes: ChangeCart,
			Path: fmt.Sprintf("/p/%d?email=a@b.example#x", v)}, 20)
	}
	if len(s.History) != 20 {
		t.Fatalf("kept %d entries, want 20", len(s.History))
	}
	if first, last := s.History[0], s.History[19]; first.Version != 6 || last.Version != 25 {
		t.Fatalf("kept versions %d..%d, want 6..25", first.Version, last.Version)
	}
	if p := s.History[19].Path; p != "/p/25" {
		t.Fatalf("path %q, want the path without query or fragment", p)
	}
	s.Record(HistoryEntry{Version: 26}, 0)
	if s.History != nil {
		t.Fatalf("max 0 kept %d entries", len(s.History))
	}
}

func TestChangeJSONNamesParts(t *testing.T) {
	b, err := json.Marshal(ChangeCart | ChangeAction | ChangeFeedback)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["cart","page","feedback"]` {
		t.Fatalf("got %s", b)
	}
	var c Change
	if err := json.Unmarshal(b, &c); err != nil || c != ChangeCart|ChangeAction|ChangeFeedback {
		t.Fatalf("round trip: %v, %v", c, err)
	}
	if err := json.Unmarshal([]byte(`["price"]`), &c); err == nil {
		t.Fatal("an unknown part was accepted")
	}
}

func TestRecordFoldsReloadsNotDataChanges(t *testing.T) {
	var s Session
	page := func(v uint64, path string) HistoryEntry {
		return HistoryEntry{Version: v, Source: SourceHTML, Changes: ChangeAction, Path: path}
	}
	s.Record(page(1, "/p/1"), 20)
	s.Record(page(2, "/p/1?ref=x"), 20) // a reload: folded
	s.Record(page(3, "/p/2"), 20)
	s.Record(HistoryEntry{Version: 4, Source: SourceCollect, Changes: ChangeCart}, 20)
	s.Record(HistoryEntry{Version: 5, Source: SourceCollect, Changes: ChangeCart}, 20) // another cart: kept
	s.Record(page(6, "/p/2"), 20)
	var got []uint64
	for _, e := range s.History {
		got = append(got, e.Version)
	}
	if fmt.Sprint(got) != "[2 3 4 5 6]" {
		t.Fatalf("versions %v, want [2 3 4 5 6]", got)
	}
}

// Every Change bit has a name: one without would vanish from the history
// and the live feed's JSON.
func TestEveryChangeHasAName(t *testing.T) {
	for bit := ChangeCart; bit <= ChangeConsent; bit <<= 1 {
		if names := bit.Names(); len(names) != 1 {
			t.Errorf("change bit %d has names %v", bit, names)
		}
	}
}

package handler

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestHistoryNamesWhatChangedNeverValues: every changing write leaves an
// entry with its version, source and parts; writes that change nothing
// leave none; the history holds no customer value.
func TestHistoryNamesWhatChangedNeverValues(t *testing.T) {
	cfg := testConfig()
	cfg.History = 3
	var published []model.HistoryEntry
	cfg.Publish = func(_ context.Context, c model.SessionChange) { published = append(published, c.Entry) }
	h, store := newTestHandler(t, cfg)
	v := newVisitor(t, h)

	v.post(twoItems)                  // cart, customer, page
	v.post(twoItems)                  // nothing changes: no entry
	v.post(`{"page_type":"product"}`) // page
	v.post(`{"cart":{}}`)             // cart
	v.post(`{"page_type":"front"}`)   // page: the first entry falls out

	id, _, _ := model.ParseCookieValue(v.cookie.Value)
	s, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range s.History {
		if e.Source != model.SourceCollect || e.At.IsZero() {
			t.Errorf("entry %+v: want source collect and a time", e)
		}
		got = append(got, strings.Join(append([]string{string(rune('0' + e.Version))}, e.Changes.Names()...), " "))
	}
	want := []string{"2 page", "3 cart", "4 page"}
	if !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
	if len(published) != 4 || published[0].Changes != model.ChangeCart|model.ChangeCustomer|model.ChangeAction {
		t.Fatalf("published %+v", published)
	}
	// A long path with a query reaches neither the history nor the feed whole.
	long := "/c/" + strings.Repeat("x", 10000) + "?email=jane@example.com"
	h.apply(context.Background(), id, model.Patch{PageType: model.PageCategory}, model.SourceHTML, long)
	if e := published[len(published)-1]; len(e.Path) != model.MaxPathLength || strings.Contains(e.Path, "email") {
		t.Fatalf("published a path of %d bytes: %.40q", len(e.Path), e.Path)
	}
	s, _ = store.Get(context.Background(), id)
	b, _ := json.Marshal(s.History)
	for _, personal := range []string{"devnull@nosto.com", "Nosto", "b369f1235cf4f08153c560.82515936"} {
		if strings.Contains(string(b), personal) {
			t.Errorf("history %s holds %q", b, personal)
		}
	}
}

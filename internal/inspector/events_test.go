package inspector

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/feed"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestEventsStreamRowsAndEndWithTheSignIn: the feed sends the recent
// changes, then new ones with each sink's state, and ends when the
// sign-in expires.
func TestEventsStreamRowsAndEndWithTheSignIn(t *testing.T) {
	store, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ring := feed.NewRing(10)
	ring.Publish(feed.Event{SessionID: "old", Version: 1, Source: model.SourceHTML})
	in, err := New(Config{Prefix: "/p", CheckKey: func(k string) bool { return k == testKey },
		SigningKey: SigningKey([]byte(testKey)), Feed: ring, Store: store, TTL: 2 * time.Second,
		Deliveries: func(_ context.Context, id string) ([]delivery.DeliveryStatus, error) {
			return []delivery.DeliveryStatus{{Sink: "talonone", PendingVersion: 2, Attempts: 1,
				LastError: &delivery.DeliveryFailure{Status: 500, At: time.Now()}}}, nil
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(in)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/p/ui/events", nil)
	req.AddCookie(signInCookie(t, in))
	start := time.Now()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
		close(lines)
	}()
	first := <-lines
	if !strings.Contains(first, `"session_id":"old"`) || !strings.Contains(first, `{"sink":"talonone","state":"failing"}`) {
		t.Fatalf("first rows %s: want the recent change with its failing sink", first)
	}
	ring.Publish(feed.Event{SessionID: "new", Version: 7, Source: model.SourceCollect})
	select {
	case d := <-lines:
		if !strings.Contains(d, `"session_id":"new"`) {
			t.Fatalf("rows %s: want the new change", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the new change was not sent")
	}
	// A delivery attempt refreshes the session's sink states, alone.
	ring.Publish(feed.DeliveryOf("talonone", "old", 1, "retried", "node-a"))
	select {
	case d := <-lines:
		if !strings.Contains(d, `"rows":[]`) || !strings.Contains(d, `"sinks":[{"session_id":"old","sinks":[{"sink":"talonone","state":"failing"}]}]`) {
			t.Fatalf("after a delivery attempt: %s", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the delivery attempt was not sent")
	}
	for range lines {
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("the stream outlived its 2s sign-in: %s", d)
	}
}

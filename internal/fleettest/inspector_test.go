//go:build linux

package fleettest

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// signIn signs in to a node's inspector with the API key and returns the
// cookie it set.
func signIn(t *testing.T, n *Node) *http.Cookie {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(n.Ops+APIPrefix+"/ui/login", url.Values{"key": {APIKey}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "sessiontap_inspector" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("node %s: sign-in answered %d without a cookie", n.Name, res.StatusCode)
	return nil
}

// feedRow is what the live list says of one session.
type feedRow struct {
	SessionID string   `json:"session_id"`
	Version   uint64   `json:"version"`
	Source    string   `json:"source"`
	Changes   []string `json:"changes"`
	Node      string   `json:"node"`
}

// follow reads a node's live feed (SSE) and sends every row on the channel.
func follow(t *testing.T, ctx context.Context, n *Node, c *http.Cookie) <-chan feedRow {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.Ops+APIPrefix+"/ui/events", nil)
	req.AddCookie(c)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("node %s: events answered %d %s", n.Name, res.StatusCode, res.Header.Get("Content-Type"))
	}
	rows := make(chan feedRow, 100)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var msg struct{ Rows []feedRow }
			if json.Unmarshal([]byte(data), &msg) == nil {
				for _, r := range msg.Rows {
					rows <- r
				}
			}
		}
	}()
	return rows
}

// A change made through node A shows in node B's inspector, live, and a
// cookie node A signed is good on node B (the fleet shares its keys).
func TestFleetInspectorSeesOtherNodes(t *testing.T) {
	f := StartFleet(t, 2, func(c *NodeConfig) { c.API = "inspector" })
	a, b := f.Nodes[0], f.Nodes[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows := follow(t, ctx, b, signIn(t, a))

	start := time.Now()
	_, s := collectNew(t, a, "", cart(3))
	deadline := time.After(2 * time.Second)
	for {
		select {
		case r := <-rows:
			if r.SessionID != s.ID {
				continue
			}
			if r.Version != s.Version || r.Source != "collect" || strings.Join(r.Changes, ",") != "cart" || r.Node == "" {
				t.Fatalf("node b's row %+v for session %s v%d written through node a", r, s.ID, s.Version)
			}
			t.Logf("node a's change reached node b's inspector in %s", time.Since(start).Round(time.Millisecond))
			return
		case <-deadline:
			t.Fatalf("node b's inspector did not show session %s within 2s\n%s", s.ID, b.Tail(20))
		}
	}
}

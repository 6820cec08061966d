package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/webhook"
)

// bodyReceiver is an upstream that keeps every request it gets, path and
// body; as a webhook endpoint it verifies each signature (secret whsec).
type bodyReceiver struct {
	t       *testing.T
	webhook bool
	answer  string // the body of each answer; "" answers 204
	mu      sync.Mutex
	got     []received
}

// received is one request as an upstream got it.
type received struct {
	Path    string // as sent, escapes kept
	Body    []byte
	Decoded map[string]any
}

func newBodyReceiver(t *testing.T, webhook bool, answer string) (*bodyReceiver, *httptest.Server) {
	br := &bodyReceiver{t: t, webhook: webhook, answer: answer}
	srv := httptest.NewServer(br)
	t.Cleanup(srv.Close)
	return br, srv
}

func (br *bodyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if br.webhook {
		if err := webhook.Verify("whsec", r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			br.t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	br.mu.Lock()
	br.got = append(br.got, received{Path: r.URL.EscapedPath(), Body: body, Decoded: m})
	br.mu.Unlock()
	if br.answer == "" {
		w.WriteHeader(204)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, br.answer)
}

// waitN waits for n requests and returns the first n.
func (br *bodyReceiver) waitN(t *testing.T, n int) []received {
	t.Helper()
	var got []received
	waitFor(t, "requests at the upstream", func() bool {
		br.mu.Lock()
		defer br.mu.Unlock()
		got = append([]received(nil), br.got...)
		return len(got) >= n
	})
	return got[:n]
}

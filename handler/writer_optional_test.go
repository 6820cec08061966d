package handler

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// optionalWriter is a writer below ours with the optional interfaces
// Caddy's handlers assert directly.
type optionalWriter struct {
	*httptest.ResponseRecorder
	pushed   []string
	readFrom bool
}

func (o *optionalWriter) Push(target string, _ *http.PushOptions) error {
	o.pushed = append(o.pushed, target)
	return nil
}

func (o *optionalWriter) ReadFrom(r io.Reader) (int64, error) {
	o.readFrom = true
	return io.Copy(o.ResponseRecorder, r)
}

func TestWrappersPassPushAndReadFromOn(t *testing.T) {
	for _, tc := range []struct {
		ctype    string
		captured bool
	}{{"text/html; charset=utf-8", true}, {"image/png", false}} {
		below := &optionalWriter{ResponseRecorder: httptest.NewRecorder()}
		c := &captureWriter{ResponseWriter: below, cfg: &CaptureConfig{HTML: true, Limit: 1 << 20}, budget: &budget{max: 1 << 20}}
		var w http.ResponseWriter = &cookieWriter{ResponseWriter: c, cookie: "sessiontap_id=x"}
		pusher, ok := w.(http.Pusher)
		if !ok {
			t.Fatal("the cookie writer hides http.Pusher")
		}
		if err := pusher.Push("/style.css", nil); err != nil || len(below.pushed) != 1 {
			t.Fatalf("push: %v, pushed %q", err, below.pushed)
		}
		w.Header().Set("Content-Type", tc.ctype)
		body := "<html><body>" + strings.Repeat("x", 100) + "</body></html>"
		n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader(body))
		if err != nil || n != int64(len(body)) || below.Body.String() != body {
			t.Fatalf("%s: ReadFrom %d %v, body %q", tc.ctype, n, err, below.Body.String())
		}
		if got := below.Header().Get("Set-Cookie"); got != "sessiontap_id=x" {
			t.Errorf("%s: Set-Cookie %q after ReadFrom", tc.ctype, got)
		}
		// A page being captured goes through Write, so the copy sees it;
		// anything else goes to the writer's own ReadFrom (sendfile).
		if below.readFrom == tc.captured {
			t.Errorf("%s: the writer below's ReadFrom used: %v", tc.ctype, below.readFrom)
		}
		if tc.captured && (c.scan == nil || c.kind != captureHTML) {
			t.Errorf("%s: not captured (kind %v)", tc.ctype, c.kind)
		}
	}
	// Without a Pusher below, Push says so rather than pretending.
	c := &captureWriter{ResponseWriter: httptest.NewRecorder(), cfg: &CaptureConfig{}}
	if err := c.Push("/x", nil); err != http.ErrNotSupported {
		t.Errorf("push without a pusher below: %v", err)
	}
}

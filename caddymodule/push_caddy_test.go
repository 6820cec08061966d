package caddymodule

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2PushPassesThrough: Caddy's push handler asks the writer it is
// handed for http.Pusher. Behind sessiontap, a page gets the same
// PUSH_PROMISE it gets without it, for a proxied page and a file alike.
func TestHTTP2PushPassesThrough(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(globalOptions+`
https://localhost:9443 {
	tls internal
	push * /style.css
	sessiontap
	@shop path /shop
	reverse_proxy @shop localhost:9080
	respond "<html><body>page</body></html>"
}
http://localhost:9080 {
	header Content-Type text/html
	respond "<html><body>shop</body></html>"
}
`, "caddyfile")
	for _, path := range []string{"/", "/shop"} {
		pushed, status := h2Get(t, "localhost:9443", path)
		if status != "200" || len(pushed) != 1 || pushed[0] != "/style.css" {
			t.Errorf("GET %s over HTTP/2: status %s, pushed %q; want 200 and /style.css", path, status, pushed)
		}
	}
}

// h2Get sends one GET over HTTP/2 with server push enabled (Go's HTTP
// client turns it off) and returns the paths the server promised and the
// answer's status.
func h2Get(t *testing.T, addr, path string) (pushed []string, status string) {
	t.Helper()
	var conn *tls.Conn
	var err error
	// tls internal issues the site's certificate once the site runs.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ServerName: "localhost"})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if conn.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN chose %q, not h2", conn.ConnectionState().NegotiatedProtocol)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 1}); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", addr}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// One decoder for every header block: they share its table.
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v (pushed %q)", err, pushed)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PushPromiseFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range fields {
				if h.Name == ":path" {
					pushed = append(pushed, h.Value)
				}
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			if f.StreamID == 1 {
				for _, h := range fields {
					if h.Name == ":status" {
						status = h.Value
					}
				}
				if f.StreamEnded() {
					return pushed, status
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				return pushed, status
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY: %v", f.ErrCode)
		}
	}
}

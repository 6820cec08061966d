package cache

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// A Redis that is down, or never answers, gives errors quickly.

// A server that is not there, or does not answer, fails construction
// quickly; so does a bad configuration.
func TestRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	silent := silentServer(t)
	for _, addr := range []string{closed, silent} {
		start := time.Now()
		r, err := NewRedis(context.Background(), RedisConfig{Addresses: []string{addr}, HashKey: testHashKey})
		if err == nil {
			r.Close()
			t.Fatalf("NewRedis(%s) succeeded", addr)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("NewRedis(%s) took %s", addr, d)
		}
		t.Logf("%s: %v", addr, err)
	}
	for _, cfg := range []RedisConfig{{}, {Addresses: []string{closed}}, {Addresses: []string{closed}, HashKey: testHashKey, TTL: -1}} {
		if _, err := NewRedis(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// A server that stops answering after the store connected gives errors
// within the command timeout, never a hang.
func TestRedisStopsAnswering(t *testing.T) {
	p := newFreezingProxy(t, redisAddr(t))
	const timeout = 100 * time.Millisecond
	r := newRedisStore(t, RedisConfig{Timeout: timeout})
	r.Close()
	cfg := r.Config()
	cfg.Addresses = []string{p.addr}
	r, err := NewRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, err := r.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	p.frozen.Store(true)
	for name, op := range map[string]func() error{
		"Get":    func() error { _, err := r.Get(ctx, "a"); return err },
		"Update": func() error { _, err := r.Update(ctx, "a", addItem("q")); return err },
		"Delete": func() error { return r.Delete(ctx, "a") },
		"Linked": func() error { _, err := r.Linked(ctx, "c-1"); return err },
		"Range":  func() error { return r.Range(ctx, func(*model.Session) bool { return true }) },
	} {
		start := time.Now()
		err := op()
		if d := time.Since(start); err == nil || d > 5*timeout {
			t.Errorf("%s on a frozen server: %v after %s", name, err, d)
		}
	}
}

// freezingProxy forwards TCP to a server until frozen, then swallows
// everything: a server that hangs.
type freezingProxy struct {
	addr   string
	frozen atomic.Bool
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &freezingProxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	return p
}

func (p *freezingProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if !p.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

package cache

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// A Redis that is down, or never answers, gives errors quickly, marked
// ErrUnavailable.

// A server that is not there, or does not answer, fails construction
// within the connection bound; so does a bad configuration.
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
		// Connecting may take ten timeouts (TCP, TLS, HELLO, AUTH).
		if d := time.Since(start); d > 10*DefaultRedisTimeout+time.Second {
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

// A server that goes away after the store connected (cut: connections
// reset, dials refused; hung: nothing answered) gives ErrUnavailable
// within the command timeout, never a hang, and no compare-and-set retry;
// once it is back the same store works again.
func TestRedisOutage(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p := redistest.NewProxy(t, redisAddr(t))
	r := redisThrough(t, p, timeout)
	ctx := context.Background()
	if _, err := r.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"cut", "hang"} {
		if mode == "cut" {
			p.Cut()
		} else {
			p.Hang()
		}
		// The first call to find Redis gone; an update that skipped its
		// read would have an unknown outcome instead (see
		// TestRedisHungAfterQuietGuessesOnce).
		if _, err := r.Get(ctx, "a"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: Get: %v", mode, err)
		}
		for name, op := range redisOps(r) {
			start := time.Now()
			err := op()
			// A hung command takes the timeout; an Update is two commands,
			// but only one can hang. Slack for the race detector.
			if d := time.Since(start); !errors.Is(err, ErrUnavailable) || d > timeout+100*time.Millisecond {
				t.Errorf("%s, %s: %v after %s, want ErrUnavailable within %s", mode, name, err, d, timeout)
			}
		}
		if n := r.conflicts.Load(); n != 0 {
			t.Errorf("%s: %d errors retried as compare-and-set conflicts", mode, n)
		}
		p.Restore(t)
		s, err := r.Update(ctx, "a", addItem(mode))
		if err != nil || s.Cart.Items[len(s.Cart.Items)-1].ProductID != mode {
			t.Fatalf("after the %s: %v %+v", mode, err, s)
		}
	}
}

// Errors that are not the server's state are not ErrUnavailable: they
// are bugs to see, not outages to ride out.
func TestRedisErrorsNotUnavailable(t *testing.T) {
	r := newRedisStore(t, RedisConfig{})
	c := rawRedis(t)
	ctx := context.Background()
	// A session key of the wrong type: Redis answers WRONGTYPE.
	if err := c.Do(ctx, c.B().Hset().Key(r.sessionKey("w")).FieldValue().FieldValue("f", "v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "w"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("WRONGTYPE: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Get(cancelled, "w"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("the caller's cancelled context: %v", err)
	}
	if !unavailable(context.DeadlineExceeded) || unavailable(context.Canceled) {
		t.Error("a timeout is unavailability, a cancel is not")
	}
}

// redisThrough is a store on the test server reached through p.
func redisThrough(t *testing.T, p *redistest.Proxy, timeout time.Duration) *Redis {
	t.Helper()
	cfg := newRedisStore(t, RedisConfig{Timeout: timeout}).Config()
	cfg.Addresses = []string{p.Addr()}
	r, err := NewRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// redisOps are the store's calls, on session "a" and customer "c-1".
func redisOps(r *Redis) map[string]func() error {
	ctx := context.Background()
	return map[string]func() error{
		"Get":    func() error { _, err := r.Get(ctx, "a"); return err },
		"Update": func() error { _, err := r.Update(ctx, "a", addItem("q")); return err },
		"Delete": func() error { return r.Delete(ctx, "a") },
		"Linked": func() error { _, err := r.Linked(ctx, "c-1"); return err },
		"Range":  func() error { return r.Range(ctx, func(*model.Session) bool { return true }) },
	}
}

// A write that Redis runs but answers late (past the timeout) is not
// "nothing stored": it is read back and found, and Update succeeds. When
// even the read back is late, the outcome is unknown, and says so; the
// session did change, which is why "nothing stored" would be false.
func TestRedisLateReplyIsSettled(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p := redistest.NewProxy(t, redisAddr(t))
	r := redisThrough(t, p, timeout)
	ctx := context.Background()
	if _, err := r.Update(ctx, "late", addItem("p1")); err != nil {
		t.Fatal(err)
	}

	// The write's reply past its timeout, the read back's within its own.
	p.DelayReplies(150*time.Millisecond, "EVALSHA")
	s, err := r.Update(ctx, "late", addItem("p2"))
	p.DelayReplies(0)
	if err != nil || len(s.Cart.Items) != 2 || r.settled.Load() != 1 {
		t.Fatalf("a late reply: %v %+v, settled %d; want the write, read back", err, s, r.settled.Load())
	}

	// The write's reply and the read back's, past both timeouts.
	p.DelayReplies(3*time.Second, "EVALSHA", "GETRANGE")
	_, err = r.Update(ctx, "late", addItem("p3"))
	p.DelayReplies(0)
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a reply later than the read back: %v; want ErrOutcomeUnknown (and ErrUnavailable)", err)
	}
	var got *model.Session
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = r.Get(ctx, "late"); err == nil && len(got.Cart.Items) == 3 {
			return // it was stored: "unknown" was the truth
		}
	}
	t.Errorf("the write of unknown outcome was not stored after all: %+v %v", got, err)
}

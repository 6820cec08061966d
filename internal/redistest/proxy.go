package redistest

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy stands between a client and a server so that a test can make the
// server go away and come back without touching it: Cut is a crashed or
// unreachable server (connections reset, new ones refused), Hang one that
// was stopped (SIGSTOP: connections accepted and held, nothing answered),
// Restore the server back. What a hung proxy has read is held, not lost,
// and forwarded on Restore, as a stopped server's socket buffers are.
type Proxy struct {
	addr, target string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	resume chan struct{} // closed while the proxy forwards
	closed bool
	// delay holds replies to commands that contain delayed this long: a
	// server that runs them at once and answers late.
	delay atomic.Pointer[replyDelay]
}

type replyDelay struct {
	commands [][]byte
	d        time.Duration
}

// DelayReplies holds the replies to the commands whose bytes contain one
// of commands (EVALSHA, say) for d before passing them on, and what
// follows them on the connection, as a slow server would; the commands
// reach the server at once. d 0 ends it.
func (p *Proxy) DelayReplies(d time.Duration, commands ...string) {
	if d <= 0 {
		p.delay.Store(nil)
		return
	}
	rd := &replyDelay{d: d}
	for _, c := range commands {
		rd.commands = append(rd.commands, []byte(c))
	}
	p.delay.Store(rd)
}

func (rd *replyDelay) matches(b []byte) bool {
	for _, c := range rd.commands {
		if bytes.Contains(b, c) {
			return true
		}
	}
	return false
}

// NewProxy listens on a free loopback port and forwards to target until
// the end of the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	close(p.resume)
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port, for the client.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes every connection and stops listening: dials are refused.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.dropConnsLocked()
}

// Hang keeps accepting connections but forwards nothing either way.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
		p.resume = make(chan struct{})
	default: // already hung
	}
}

// Restore forwards again: a cut proxy listens again on its address, a
// hung one passes on what it held.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
	if p.ln != nil {
		return
	}
	// The port was free a moment ago; a dial refused meanwhile may still
	// hold it in TIME_WAIT for a little while.
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
	}
	t.Fatalf("redistest: proxy cannot listen on %s again: %v", p.addr, err)
}

// serve accepts on ln until it is closed. Called with mu held or before
// the proxy is shared.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				c.Close()
				continue
			}
			go p.connect(c)
		}
	}()
}

// connect dials the server once the proxy forwards, and pipes both ways.
func (p *Proxy) connect(c net.Conn) {
	if !p.wait(c) {
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.untrack(c)
		c.Close()
		return
	}
	if !p.track(s) {
		c.Close()
		s.Close()
		return
	}
	// Replies owed a delay, counted as their commands pass.
	owed := new(atomic.Int32)
	go p.pipe(s, c, owed, false)
	go p.pipe(c, s, owed, true)
}

// pipe copies src to dst, holding what it read while the proxy hangs,
// and replies (from the server) for the reply delay.
func (p *Proxy) pipe(dst, src net.Conn, owed *atomic.Int32, replies bool) {
	defer func() {
		p.untrack(dst)
		p.untrack(src)
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(src) {
				return
			}
			if rd := p.delay.Load(); rd != nil {
				switch {
				case !replies && rd.matches(buf[:n]):
					owed.Add(1)
				case replies && owed.Load() > 0:
					owed.Add(-1)
					time.Sleep(rd.d)
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or closed: either way the pair is done
			return
		}
	}
}

// wait blocks while the proxy hangs, and reports whether c is still open
// (a Cut or the end of the test closes it).
func (p *Proxy) wait(c net.Conn) bool {
	for {
		p.mu.Lock()
		resume, open := p.resume, p.isTracked(c)
		p.mu.Unlock()
		if !open {
			return false
		}
		select {
		case <-resume:
			return true
		case <-time.After(10 * time.Millisecond): // to notice a Cut
		}
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) isTracked(c net.Conn) bool {
	_, ok := p.conns[c]
	return ok
}

func (p *Proxy) dropConnsLocked() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.dropConnsLocked()
	select {
	case <-p.resume:
	default:
		close(p.resume)
	}
}

package redistest

import (
	"net"
	"sync"
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
	go p.pipe(s, c)
	go p.pipe(c, s)
}

// pipe copies src to dst, holding what it read while the proxy hangs.
func (p *Proxy) pipe(dst, src net.Conn) {
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

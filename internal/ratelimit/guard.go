package ratelimit

import (
	"net"
	"net/http"
	"time"
)

// GuessRule bounds wrong keys from one client network: a handful at once,
// then one every twelve seconds. An operator who mistypes is never held up;
// a guesser gets 300 tries an hour from an address instead of hundreds a
// second.
var GuessRule = Rule{Events: 5, Per: time.Minute, Burst: 5}

// GuessClients is how many client networks a Guard remembers.
const GuessClients = 10000

// Guard throttles failed attempts (wrong keys) per client network. A
// client that has used up its failures waits, whatever it sends meanwhile:
// were a right key let through, every guess would still say whether it
// was right. Other clients are never held up by it.
type Guard struct {
	t   *Table
	ip  func(*http.Request) string
	now func() time.Time
}

// NewGuard makes a Guard that tells clients apart by ip (nil: the peer's
// address).
func NewGuard(rule Rule, clients int, ip func(*http.Request) string) *Guard {
	if ip == nil {
		ip = RemoteIP
	}
	return &Guard{t: New([]Rule{rule}, clients), ip: ip, now: time.Now}
}

// Wait is how long r's client must wait before it may try a key; 0 when
// it may now.
func (g *Guard) Wait(r *http.Request) time.Duration { return g.t.Wait(0, g.ip(r), g.now()) }

// Failed records a wrong key from r's client.
func (g *Guard) Failed(r *http.Request) { g.t.Allow(0, g.ip(r), g.now()) }

// RemoteIP is the address of r's peer.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

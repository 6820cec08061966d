package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestGuardHoldsOnlyTheGuesser(t *testing.T) {
	g := NewGuard(GuessRule, 100, nil)
	now := time.Unix(1e9, 0)
	g.now = func() time.Time { return now }
	guesser := httptest.NewRequest("GET", "/", nil)
	guesser.RemoteAddr = "203.0.113.9:4000"
	other := httptest.NewRequest("GET", "/", nil)
	other.RemoteAddr = "[2001:db8::1]:4000"
	for i := range GuessRule.Burst {
		if w := g.Wait(guesser); w != 0 {
			t.Fatalf("failure %d: held %s before the burst was used", i, w)
		}
		g.Failed(guesser)
	}
	if w := g.Wait(guesser); w < 11*time.Second || w > 12*time.Second {
		t.Fatalf("after %d failures the guesser waits %s, want 12s", GuessRule.Burst, w)
	}
	if w := g.Wait(other); w != 0 {
		t.Fatalf("another client waits %s", w)
	}
	now = now.Add(12 * time.Second)
	if w := g.Wait(guesser); w != 0 {
		t.Fatalf("12s later the guesser still waits %s", w)
	}
}

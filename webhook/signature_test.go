package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const testSecret = "whsec_test"

func TestVerify(t *testing.T) {
	body := []byte(`{"event_id":"e1"}`)
	now := time.Unix(1_700_000_000, 0)
	sign := func(secret string, ts time.Time, b []byte) string {
		return Sign([]byte(secret), ts.Unix(), b)
	}
	good := sign(testSecret, now, body)

	if err := Verify(testSecret, good, body, now, time.Minute); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"tampered body", testSecret, good, []byte(`{"event_id":"e2"}`), now, time.Minute, ErrMismatch},
		{"body with trailing newline", testSecret, good, append(append([]byte(nil), body...), '\n'), now, time.Minute, ErrMismatch},
		{"wrong secret", "other-secret", good, body, now, time.Minute, ErrMismatch},
		{"old timestamp", testSecret, sign(testSecret, now.Add(-10*time.Minute), body), body, now, 5 * time.Minute, ErrTimestamp},
		{"future timestamp", testSecret, sign(testSecret, now.Add(10*time.Minute), body), body, now, 5 * time.Minute, ErrTimestamp},
		{"default tolerance", testSecret, sign(testSecret, now.Add(-6*time.Minute), body), body, now, 0, ErrTimestamp},
		{"timestamp changed", testSecret, strings.Replace(good, "t=1700000000", "t=1700000001", 1), body, now, time.Minute, ErrMismatch},
		{"empty header", testSecret, "", body, now, time.Minute, ErrHeader},
		{"no v1", testSecret, "t=1700000000", body, now, time.Minute, ErrHeader},
		{"no t", testSecret, good[strings.Index(good, "v1="):], body, now, time.Minute, ErrHeader},
		{"bad t", testSecret, "t=soon," + good[strings.Index(good, "v1="):], body, now, time.Minute, ErrHeader},
		{"two t", testSecret, "t=1," + good, body, now, time.Minute, ErrHeader},
		{"v1 not hex", testSecret, "t=1700000000,v1=zz", body, now, time.Minute, ErrHeader},
	}
	for _, tc := range tests {
		err := Verify(tc.secret, tc.header, tc.body, tc.now, tc.tol)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
		}
	}

	// Within tolerance, either way; several v1 (a rotation) and unknown keys.
	for _, h := range []string{
		sign(testSecret, now.Add(-4*time.Minute), body),
		sign(testSecret, now.Add(4*time.Minute), body),
		good + ",v1=" + strings.Repeat("00", 32),
		"t=1700000000,v1=" + strings.Repeat("ab", 32) + ", v0=x ," + good[strings.Index(good, "v1="):],
	} {
		if err := Verify(testSecret, h, body, now, 5*time.Minute); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
	if err := Verify("", good, body, now, time.Minute); err == nil {
		t.Error("an empty secret verified")
	}
}

// Package webhook is what a receiver of sessiontap's webhook calls: the
// signature check of each delivery. sessiontap's webhook sink (forward
// webhook) POSTs every session update as JSON with a header
//
//	Sessiontap-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//
// under the secret both sides share. Verify it on the raw body before
// parsing it, drop repeats by event_id (delivery is at least once) and
// stale updates by version (they come in version order per session).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries a delivery's signature.
const SignatureHeader = "Sessiontap-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Why Verify refused a request; test with errors.Is.
var (
	// ErrHeader: the header is missing or malformed.
	ErrHeader = errors.New("webhook signature header missing or malformed")
	// ErrMismatch: no v1 signature matches the body.
	ErrMismatch = errors.New("webhook signature does not match the body")
	// ErrTimestamp: the signed timestamp is outside the tolerance (a
	// replay, or clocks too far apart).
	ErrTimestamp = errors.New("webhook signature timestamp outside the tolerance")
)

// Sign is the SignatureHeader value for body, signed at t (unix seconds)
// under secret: what sessiontap sends, and what a test of a receiver can.
func Sign(secret []byte, t int64, body []byte) string {
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

// mac is HMAC-SHA256(secret, "<t>.<body>").
func mac(secret []byte, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Sessiontap-Signature header against the
// raw request body, as a webhook receiver should (see Webhook): one of the
// header's v1 signatures must be the HMAC-SHA256 of "<t>.<body>" under
// secret, and t must be within tolerance of now, either way (tolerance 0
// or less means DefaultTolerance). It returns nil or an error that
// wraps ErrHeader, ErrMismatch or ErrTimestamp.
func Verify(secret string, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("webhook: no secret to verify with")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		t     int64
		haveT bool
		sigs  [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveT {
				return fmt.Errorf("%w: bad or repeated t", ErrHeader)
			}
			t, haveT = n, true
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if !haveT || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrHeader)
	}
	want := mac([]byte(secret), t, body)
	matched := false
	for _, sig := range sigs {
		// Compare them all, so that timing says nothing about which matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrMismatch
	}
	// Compare in whole seconds, without building a Duration from t, which
	// could overflow for absurd values.
	age := now.Unix() - t
	limit := int64(tolerance / time.Second)
	if age > limit || age < -limit {
		return fmt.Errorf("%w: signed at %d, now %d", ErrTimestamp, t, now.Unix())
	}
	return nil
}

// Package respond writes the JSON answers that sessiontap's endpoints give
// themselves (collect, the operator API), the same way for all of them.
package respond

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// JSON answers with v as JSON. Our answers are never cached: they are one
// visitor's or one operator's.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, map[string]string{"error": msg})
}

// MethodNotAllowed answers 405 with the methods allowed.
func MethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	Error(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
}

// RetryAfter is the Retry-After, in seconds, of an answer saying the
// session store is unavailable: long enough for a blip to pass, short
// enough that a retrying client hardly notices one.
const RetryAfter = "1"

// Unavailable answers 503 with Retry-After: the session store cannot be
// reached, nothing was done, and the same request may well succeed soon.
func Unavailable(w http.ResponseWriter, msg string) {
	RetryLater(w)
	Error(w, http.StatusServiceUnavailable, msg)
}

// RetryLater sets the Retry-After of an answer that the store was
// unavailable for, whatever the answer's body.
func RetryLater(w http.ResponseWriter) { w.Header().Set("Retry-After", RetryAfter) }

// TooMany answers 429 with a Retry-After of wait in whole seconds, at
// least 1, and msg.
func TooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	Error(w, http.StatusTooManyRequests, msg)
}

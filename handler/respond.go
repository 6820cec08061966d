package handler

import (
	"encoding/json"
	"net/http"
)

// fieldError is a client error about one field of a request body.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

func badField(field, msg string) *fieldError { return &fieldError{Field: field, Message: msg} }

// writeJSON answers with v as JSON. Our answers are never cached: they are
// one visitor's or one operator's.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeFieldError(w http.ResponseWriter, e *fieldError) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": e.Error(), "field": e.Field})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
}

package handler

import (
	"net/http"

	"github.com/sessiontap/caddy-sessiontap/internal/respond"
)

// fieldError is a client error about one field of a request body.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

func badField(field, msg string) *fieldError { return &fieldError{Field: field, Message: msg} }

func writeFieldError(w http.ResponseWriter, status int, e *fieldError) {
	respond.JSON(w, status, map[string]string{"error": e.Error(), "field": e.Field})
}

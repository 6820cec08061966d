package spectest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// The session-context checks below serve both the handler's tests and
// the tests through a real Caddy, so that both hold our API to the same
// reading of Emporix's spec.

// UndeclaredStatuses are the statuses the session-context API answers that
// Emporix's spec does not declare (it has only 200, 204, 404 and 500).
// Their bodies must still be the spec's error body (404_session).
var UndeclaredStatuses = map[int]bool{400: true, 401: true, 403: true, 405: true, 409: true, 413: true}

// input routes r, with prefix cut from its path, in the spec.
func (s *Spec) input(r *http.Request, prefix string, body []byte) (*openapi3filter.RequestValidationInput, error) {
	rr := r.Clone(context.Background())
	rr.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
	rr.URL.RawPath = ""
	rr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := s.Router.FindRoute(rr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", rr.Method, rr.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{
		Request:    rr,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerAuth},
	}, nil
}

// bearerAuth checks the spec's OAuth2 scheme: our bearer API key stands in
// for Emporix's access token.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	tok, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return in.NewError(errors.New("no Authorization: Bearer <token>"))
	}
	return nil
}

// ValidateRequest checks r (body is its body; prefix is cut from its path)
// against the spec.
func (s *Spec) ValidateRequest(r *http.Request, prefix string, body []byte) error {
	in, err := s.input(r, prefix, body)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), in)
}

// ValidateResponse checks a session-context answer to r: a status the spec
// declares strictly (status, headers, body), one of UndeclaredStatuses by
// its body, which must be the spec's error body with code and message.
func (s *Spec) ValidateResponse(r *http.Request, prefix string, reqBody []byte, status int, header http.Header, body []byte) error {
	in, err := s.input(r, prefix, reqBody)
	if err != nil {
		return err
	}
	if in.Route.Operation.Responses.Status(status) != nil {
		return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 status,
			Header:                 header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
		})
	}
	if !UndeclaredStatuses[status] {
		return fmt.Errorf("status %d is neither in the spec nor one of our error statuses", status)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("status %d: Content-Type %q", status, ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("status %d: %w", status, err)
	}
	errBody := s.Doc.Components.Responses["404_session"]
	if errBody == nil {
		return errors.New("the spec has no 404_session response")
	}
	schema := errBody.Value.Content.Get("application/json").Schema.Value
	if err := schema.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("status %d: the body is not the spec's error body: %w", status, err)
	}
	if m, _ := v.(map[string]any); m["code"] != float64(status) || m["message"] == "" || m["message"] == nil {
		return fmt.Errorf("status %d: code/message %v", status, v)
	}
	return nil
}

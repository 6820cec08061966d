package delivery

// Emporix's OAuth2 client-credentials token, cached until shortly before
// it expires and dropped when Emporix refuses it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// accessToken returns the cached token, or fetches one.

// maxTokenLife bounds how long a token is kept, whatever expires_in says:
// a day, so that a revoked client is noticed within one.
const maxTokenLife = 24 * time.Hour

func (e *Emporix) accessToken(ctx context.Context) (string, error) {
	if tok, ok := e.cachedToken(); ok {
		return tok, nil
	}
	select {
	case e.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", &DeliveryError{Retryable: true, Err: ctx.Err()}
	}
	defer func() { <-e.tokenLock }()
	// Another delivery may have fetched one while this one waited.
	if tok, ok := e.cachedToken(); ok {
		return tok, nil
	}
	return e.fetchToken(ctx)
}

func (e *Emporix) cachedToken() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token, e.token != "" && e.now().Before(e.expiry)
}

// dropToken forgets token if it is still the cached one.
func (e *Emporix) dropToken(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == token {
		e.token, e.oldToken = "", token
	}
}

// tokens are the access tokens an answer may echo, for the redactor.
func (e *Emporix) tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return []string{e.token, e.oldToken}
}

// fetchToken gets a token with the client-credentials grant and caches it
// until shortly before it expires (a tenth of its lifetime, at most a
// minute, earlier).
func (e *Emporix) fetchToken(ctx context.Context) (string, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {e.clientID},
		"client_secret": {e.secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.authURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &DeliveryError{Err: fmt.Errorf("emporix: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := DoHTTP(ctx, e.client, req, 64<<10)
	if err != nil {
		return "", err
	}
	// The token endpoint gets no personal data, but its answer may echo
	// the client id and secret.
	red := e.redactor.For(nil)
	if err := ClassifyHTTPResponse(resp, e.now(), red); err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &tok); err != nil || tok.AccessToken == "" {
		return "", &DeliveryError{Status: resp.Status,
			Err: errors.New("emporix: token endpoint answered without an access_token")}
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return "", &DeliveryError{Status: resp.Status,
			Err: fmt.Errorf("emporix: token type %q, want Bearer", red.Snippet([]byte(tok.TokenType)))}
	}
	// expires_in is a number, some servers send it as a string.
	secs, err := strconv.ParseInt(strings.Trim(string(tok.ExpiresIn), `"`), 10, 64)
	if err != nil || secs <= 0 {
		secs = 60 // unknown lifetime: keep it briefly
	}
	life := time.Duration(min(secs, int64(maxTokenLife/time.Second))) * time.Second
	e.mu.Lock()
	if e.token != "" {
		e.oldToken = e.token
	}
	e.token = tok.AccessToken
	e.expiry = e.now().Add(life - min(life/10, time.Minute))
	e.mu.Unlock()
	return tok.AccessToken, nil
}

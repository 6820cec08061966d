package handler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// The consent decision is read from every request and stored with the
// request's write when it changed, as a change of its own: on a page
// view, a collect and a cart API capture alike. A request that writes
// nothing (an asset) stores nothing for it.
func TestConsentStoredWithTheRequestsWrite(t *testing.T) {
	cfg := testConfig()
	cfg.ConsentCookie = "banner"
	cfg.Consent = func(value string, found bool) *model.Consent {
		if !found {
			return &model.Consent{}
		}
		return &model.Consent{Granted: strings.Split(value, "-"), Stated: true}
	}
	var mu sync.Mutex
	var changes []model.Change
	cfg.Publish = func(_ context.Context, c model.SessionChange) {
		mu.Lock()
		changes = append(changes, c.Entry.Changes)
		mu.Unlock()
	}
	h, store := newTestHandler(t, cfg)
	page := func(banner string, cookie *http.Cookie) *httptest.ResponseRecorder {
		r := navigation("/")
		if banner != "" {
			r.AddCookie(&http.Cookie{Name: "banner", Value: banner})
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		return serve(t, h, r)
	}
	own := ownCookie(t, page("marketing", nil))
	id, _, _ := model.ParseCookieValue(own.Value)
	consentOf := func() string {
		s, err := store.Get(context.Background(), id)
		if err != nil || s.Consent == nil {
			return "none"
		}
		return strings.Join(s.Consent.Granted, ",")
	}
	if got := consentOf(); got != "marketing" {
		t.Fatalf("after a page view: consent %s", got)
	}
	page("marketing", own) // the same decision: no consent change
	asset := httptest.NewRequest("GET", "/app.css", nil)
	asset.Header.Set("Sec-Fetch-Dest", "style")
	asset.AddCookie(own)
	asset.AddCookie(&http.Cookie{Name: "banner", Value: "necessary"})
	serve(t, h, asset) // writes nothing, so stores no consent
	if got := consentOf(); got != "marketing" {
		t.Errorf("an asset request stored consent %s", got)
	}
	w := httptest.NewRecorder()
	r := collectReq(`{"cart":{"items":[{"product_id":"p","quantity":1,"unit_price":1}]}}`, own)
	r.AddCookie(&http.Cookie{Name: "banner", Value: "necessary"}) // withdrawn
	if err := serveNow(h, w, r, &shopNext{}); err != nil || w.Code != http.StatusOK {
		t.Fatalf("collect: %d %v", w.Code, err)
	}
	if got := consentOf(); got != "necessary" {
		t.Errorf("after the collect: consent %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	var withConsent int
	for _, c := range changes {
		if c&model.ChangeConsent != 0 {
			withConsent++
		}
	}
	if withConsent != 2 {
		t.Errorf("%d changes carried ChangeConsent, want 2 (the first decision and the withdrawal): %v", withConsent, changes)
	}
}

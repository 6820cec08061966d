package model

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestTenantContextsRoundTrip(t *testing.T) {
	s := fullSession()
	at := time.Date(2026, 4, 1, 12, 0, 0, 5, time.UTC)
	for _, name := range []string{"zeta", "alpha", "mid"} {
		tc, err := s.AddTenantContext(TenantContext{Tenant: name, Version: 1, CreatedAt: at, ModifiedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		tc.Attributes = []byte(`{"a":{"b":1}}`)
	}
	if got := []string{s.Contexts[0].Tenant, s.Contexts[1].Tenant, s.Contexts[2].Tenant}; !reflect.DeepEqual(got, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("not sorted: %v", got)
	}
	if got := roundTrip(t, s); !reflect.DeepEqual(got, s) {
		t.Errorf("got %+v\nwant %+v", got.Contexts, s.Contexts)
	}
	if s.TenantContext("nope") != nil || s.TenantContext("mid") == nil {
		t.Error("TenantContext lookup")
	}
	if _, err := s.AddTenantContext(TenantContext{Tenant: "mid"}); err == nil {
		t.Error("a second context for one tenant was added")
	}
}

func TestTenantContextsBounded(t *testing.T) {
	var s Session
	for i := range MaxTenantContexts {
		if _, err := s.AddTenantContext(TenantContext{Tenant: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddTenantContext(TenantContext{Tenant: "one-more"}); !errors.Is(err, ErrTooManyTenants) {
		t.Errorf("tenant %d: %v", MaxTenantContexts+1, err)
	}
}

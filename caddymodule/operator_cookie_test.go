package caddymodule

import (
	"net/http/httptest"
	"slices"
	"testing"
)

func TestDropOperatorCookie(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1; sessiontap_inspector=x.y.z; b=2"}, []string{"a=1; b=2"}},
		{[]string{"sessiontap_inspector=x"}, nil},
		{[]string{"sessiontap_inspector=x", "c=3"}, []string{"c=3"}},
		{[]string{"sessiontap_inspector_other=1"}, []string{"sessiontap_inspector_other=1"}},
		{[]string{"a=1; sessiontap_inspector =x"}, []string{"a=1"}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.in != nil {
			r.Header["Cookie"] = slices.Clone(tc.in)
		}
		dropOperatorCookie(r)
		if got := r.Header["Cookie"]; !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

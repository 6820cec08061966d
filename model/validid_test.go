package model

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	valid := []string{NewID(), "a", "2c.cId-5f3c", "shop:a/b+c=d~e.f", ".a", "a..", strings.Repeat("x", MaxIDLength)}
	for _, id := range valid {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	// Dots only would name another resource in a sink's URL path.
	invalid := []string{"", ".", "..", "...", "a b", "a?b", "a#b", "a%2F", strings.Repeat("x", MaxIDLength+1)}
	for _, id := range invalid {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

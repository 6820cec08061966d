package caddymodule

import (
	"testing"

	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

var benchField zap.Field

// What the access log field costs a request that is not logged: the
// pseudonym computed at once, or only when the line is written.
func BenchmarkAccessLogField(b *testing.B) {
	p := delivery.NewPseudonyms([]byte("bench-key-0123456789abcdef"))
	id := model.NewID()
	b.Run("eager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchField = zap.String("sessiontap_id", p.Of(id))
		}
	})
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchField = zap.Stringer("sessiontap_id", logPseudonym{p, id})
		}
	})
}

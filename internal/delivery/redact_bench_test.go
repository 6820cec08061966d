package delivery

import (
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// The cost of a snippet of a 64 KiB error page for a sink with an access
// token a kilobyte long (Emporix's are JWTs) and a customer.
func BenchmarkSnippetLargeAnswer(b *testing.B) {
	jwt := strings.Repeat("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", 28)
	red := NewRedactor([]string{"ak-8f2e/9a+Qz=Tal1", "client-id-123", "client-secret-abcdef"},
		func() []string { return []string{jwt, jwt + "x"} })
	body := []byte(strings.Repeat("<html><body>Internal error, please retry later. ", 1400))
	personal := personalValues(&model.Session{Customer: echoShopper}, NewHasher("k"))
	b.ReportAllocs()
	for b.Loop() {
		red.For(personal).Snippet(body)
	}
}

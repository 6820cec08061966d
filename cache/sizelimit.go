package cache

import (
	"context"
	"fmt"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// sizeLimitKey keys a caller's bound on a session's encoding in a context.
type sizeLimitKey struct{}

// WithSizeLimit returns ctx asking Update to refuse (ErrTooLarge) a session
// whose encoding is over n bytes. Stores are shared by handlers with
// different bounds, so the bound travels with the call; it can only
// tighten model.MaxEncodedSize, which stays every store's own guard.
func WithSizeLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, sizeLimitKey{}, n)
}

// SizeLimit is the bound on a session's encoding for an Update under ctx.
func SizeLimit(ctx context.Context) int {
	if n, ok := ctx.Value(sizeLimitKey{}).(int); ok && n > 0 && n < model.MaxEncodedSize {
		return n
	}
	return model.MaxEncodedSize
}

// checkSize refuses an encoding of n bytes over ctx's bound.
func checkSize(ctx context.Context, n int) error {
	if limit := SizeLimit(ctx); n > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	return nil
}

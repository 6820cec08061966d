package handler

import (
	"io"
	"net/http"
)

// Caddy's handlers look for optional interfaces on the writer they are
// handed by plain type assertion, not only through
// http.NewResponseController (which Unwrap serves): the push handler for
// http.Pusher, encode and file_server (through io.Copy) for io.ReaderFrom.
// Our wrappers pass both on, as caddyhttp.ResponseWriterWrapper does.

// Push passes an HTTP/2 server push on to the writer underneath.
func (c *captureWriter) Push(target string, opts *http.PushOptions) error {
	return push(c.ResponseWriter, target, opts)
}

// ReadFrom copies the body through Write when it is being captured, and
// hands it to the writer underneath (sendfile, say) when it is not.
func (c *captureWriter) ReadFrom(r io.Reader) (int64, error) {
	if !c.decided {
		c.decide(http.StatusOK)
	}
	if c.kind != captureNone {
		return io.Copy(writerOnly{c}, r)
	}
	return readFrom(c.ResponseWriter, r)
}

// Push passes an HTTP/2 server push on to the writer underneath.
func (c *cookieWriter) Push(target string, opts *http.PushOptions) error {
	return push(c.ResponseWriter, target, opts)
}

// ReadFrom adds the cookie, then hands the body on.
func (c *cookieWriter) ReadFrom(r io.Reader) (int64, error) {
	c.addCookie()
	return readFrom(c.ResponseWriter, r)
}

func push(w http.ResponseWriter, target string, opts *http.PushOptions) error {
	if p, ok := w.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

func readFrom(w http.ResponseWriter, r io.Reader) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w}, r)
}

// writerOnly hides every method but Write, so that io.Copy cannot call
// ReadFrom back (an endless loop).
type writerOnly struct{ io.Writer }

var (
	_ http.Pusher   = (*captureWriter)(nil)
	_ io.ReaderFrom = (*captureWriter)(nil)
	_ http.Pusher   = (*cookieWriter)(nil)
	_ io.ReaderFrom = (*cookieWriter)(nil)
)

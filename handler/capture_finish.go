package handler

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/internal/tagging"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// CaptureStats count what capture did, per source, for metrics and the
// admin view: a shop whose JSON captures fail while its pages capture
// fine needs to see which.
type CaptureStats struct {
	HTML CaptureCounters // tagging in HTML responses
	JSON CaptureCounters // cart API bodies, request or response
}

// CaptureCounters count what capture did with one source.
type CaptureCounters struct {
	Pages         atomic.Int64 // bodies scanned
	Stored        atomic.Int64 // scans that changed a session
	Truncated     atomic.Int64 // bodies longer than the limit
	Undecodable   atomic.Int64 // bodies that did not decode (compression, JSON syntax)
	DroppedFields atomic.Int64 // captured values refused as invalid
	CacheGuarded  atomic.Int64 // shared-cache answers kept from overwriting cart/customer
	Ambiguous     atomic.Int64 // pages with two carts or two customers, neither taken (HTML only)
	Remembered    atomic.Int64 // pages whose tagging came from the memo, not a parse (HTML only)
	OverBudget    atomic.Int64 // bodies passed on uncaptured: the capture budget was spent
}

// finishCapture parses what c kept and writes it to the session. The
// response has been written by then; only the session is at stake.
func (h *Handler) finishCapture(ctx context.Context, id Identity, c *captureWriter) {
	defer c.release()
	switch c.over {
	case captureHTML:
		h.stats.HTML.OverBudget.Add(1)
	case captureJSON:
		h.stats.JSON.OverBudget.Add(1)
	}
	switch c.kind {
	case captureJSON:
		h.finishJSON(ctx, id, c)
	case captureHTML:
		h.stats.HTML.Pages.Add(1)
		if page, ok := h.scanPage(c); ok {
			h.storePage(ctx, id, c, page)
			return
		}
	}
	h.recordVisit(ctx, id, c.visit, c.consent)
}

func (h *Handler) finishJSON(ctx context.Context, id Identity, c *captureWriter) {
	if c.buf.Len() > 0 {
		h.stats.JSON.Pages.Add(1)
		if c.truncated {
			// A cut JSON document does not parse; say so rather than guess.
			h.stats.JSON.Truncated.Add(1)
		} else if body, ok := h.decoded(c); ok {
			h.storeJSON(ctx, id, c.route, c.path, body, c.mayCached && !h.cfg.Capture.Cached, c.consent)
		}
	}
	h.recordVisit(ctx, id, c.visit, c.consent)
}

// scanPage parses the page's tagging. A compressed copy is decoded into a
// scanner first; either way the scanner knows when the page was cut, and
// drops tagging left open at the cut.
func (h *Handler) scanPage(c *captureWriter) (tagging.Page, bool) {
	if c.scan != nil {
		return h.remembered(c.scan), true
	}
	c.scan = getScanner(h.cfg.Capture.Limit)
	r, err := decompressor(c.encoding, bytes.NewReader(c.buf.Bytes()))
	if err == nil {
		_, err = io.Copy(c.scan, r)
		if cl, ok := r.(io.Closer); ok {
			cl.Close()
		}
	}
	if err != nil && !c.truncated {
		h.stats.HTML.Undecodable.Add(1)
		return tagging.Page{}, false
	}
	if c.truncated {
		// The compressed copy was cut: what decoded is a prefix.
		c.scan.MarkTruncated()
	}
	return h.remembered(c.scan), true
}

// remembered is the scanner's result, from the memo when the page was
// parsed before.
func (h *Handler) remembered(s *tagging.Scanner) tagging.Page {
	page, hit := h.pages.Result(s)
	if hit {
		h.stats.HTML.Remembered.Add(1)
	}
	return page
}

// decoded returns the kept JSON body, decompressed up to the limit.
func (h *Handler) decoded(c *captureWriter) ([]byte, bool) {
	if c.encoding == "" {
		return c.buf.Bytes(), true
	}
	r, err := decompressor(c.encoding, bytes.NewReader(c.buf.Bytes()))
	if err != nil {
		h.stats.JSON.Undecodable.Add(1)
		return nil, false
	}
	if cl, ok := r.(io.Closer); ok {
		defer cl.Close()
	}
	limit := int64(h.cfg.Capture.Limit)
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		h.stats.JSON.Undecodable.Add(1)
		return nil, false
	case int64(len(body)) > limit:
		h.stats.JSON.Truncated.Add(1)
		return nil, false
	}
	return body, true
}

// storePage writes a page's tagging and its page view to the session.
func (h *Handler) storePage(ctx context.Context, id Identity, c *captureWriter, page tagging.Page) {
	if page.Truncated {
		h.stats.HTML.Truncated.Add(1)
	}
	h.stats.HTML.DroppedFields.Add(int64(len(page.Dropped)))
	if page.AmbiguousCart || page.AmbiguousCustomer {
		h.stats.HTML.Ambiguous.Add(1)
	}
	patch := pagePatch(page)
	if c.mayCached && !h.cfg.Capture.Cached && (patch.Cart != nil || patch.Customer != nil) {
		h.stats.HTML.CacheGuarded.Add(1)
		patch.Cart, patch.Customer, patch.CartToken = nil, nil, ""
	}
	tagged := !patch.IsZero()
	patch.Visit = c.visit
	if !patch.IsZero() {
		patch.Consent = h.decide(c.consent) // with a write only: it needs no read of its own
	}
	if patch.IsZero() {
		return
	}
	s, err := h.apply(ctx, id.ID, patch, model.SourceHTML, c.path)
	if err != nil {
		h.storeFailed("storing captured tagging failed", id.ID, err)
		return
	}
	if tagged {
		h.stats.HTML.Stored.Add(1)
	}
	h.log.Debug("tagging captured", h.sessionField(id.ID), zap.Uint64("version", s.Version),
		zap.Int("dropped_fields", len(page.Dropped)))
}

func decompressor(encoding string, r io.Reader) (io.Reader, error) {
	switch encoding {
	case "gzip":
		return gzip.NewReader(r)
	case "br":
		return brotli.NewReader(r), nil
	default: // zstd
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
}

// pagePatch turns a page's tagging into a session patch.
func pagePatch(p tagging.Page) model.Patch {
	patch := model.Patch{
		PageType:   p.PageType,
		Action:     p.PageType.Action(),
		Variation:  p.Variation,
		Category:   p.Category,
		SearchTerm: p.SearchTerm,
	}
	if p.Cart != nil {
		patch.Cart = &model.Cart{Items: p.Cart.Items}
	}
	if p.Customer != nil {
		c := p.Customer.Customer
		c.CustomerGroup = p.Customer.CustomerGroup
		// The page came from the shop's server: what it tags is verified.
		c.Verified = true
		patch.Customer = &c
	}
	if p.Product != nil {
		patch.Product = &model.Product{ProductID: p.Product.ProductID, Name: p.Product.Name,
			Price: p.Product.Price, PriceCurrencyCode: p.Product.PriceCurrencyCode}
	}
	if p.Order != nil {
		buyer := p.Order.Buyer
		// The order page came from the shop's server, like its customer.
		buyer.Verified = !buyer.IsZero()
		patch.Order = &model.Order{OrderNumber: p.Order.OrderNumber, StatusCode: p.Order.StatusCode,
			PaymentProvider: p.Order.PaymentProvider, ExternalRef: p.Order.ExternalRef, Buyer: buyer, Items: p.Order.Items}
	}
	return patch
}

// recordVisit stores a page view that no capture carried.
func (h *Handler) recordVisit(ctx context.Context, id Identity, v *model.Visit, consent consentCookie) {
	if v == nil {
		return
	}
	if _, err := h.apply(ctx, id.ID, model.Patch{Visit: v, Consent: h.decide(consent)}, model.SourceHTML, ""); err != nil {
		h.storeFailed("recording a page view failed", id.ID, err)
	}
}

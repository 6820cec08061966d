package model

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// The binary form of a Session is protobuf wire format, written by hand:
// tagged fields let later versions add fields while old entries still
// decode, and unknown fields are skipped. Zero values are omitted.
// session.proto is the schema; codec_proto_test.go checks this encoder
// against it, so a new field goes into both.
//
// Field numbers (never reuse one; add new fields with new numbers):
// Session{1 id, 2 version, 3 created_at ns, 4 updated_at ns, 5 cart, 6 customer, 7 page_type, 8 action} Cart{1 item} CartItem{1 product_id, 2 sku_id, 3 name, 4 quantity, 5 unit_price zigzag, 6 price_currency_code} Customer{1 customer_reference, 2 email, 3 first_name, 4 last_name, 5 marketing_permission, 6 customer_group, 7 verified}
// Session{9 state, 10 variation, 11 category, 12 search_term, 13 product, 14 cart_token, 15 order (repeated)} Product{1 product_id, 2 name, 3 price zigzag, 4 price_currency_code} Order{1 order_number, 2 buyer, 3 item, 4 version}
// Session{16 effects (raw JSON), 17 context_version}
// Session{19 history (repeated)} HistoryEntry{1 version, 2 at ns, 3 source, 4 changes, 5 path} (codec_history.go)
// Session{18 tenant_context (repeated)} TenantContext{1 tenant, 2 version, 3 created_at ns, 4 modified_at ns, 5 customer_id, 6 site_code, 7 currency, 8 cart_id, 9 target_location, 10 attributes (raw JSON)}
const (
	sessionID        protowire.Number = 1
	sessionVersion   protowire.Number = 2
	sessionCreatedAt protowire.Number = 3
	sessionUpdatedAt protowire.Number = 4
	sessionCart      protowire.Number = 5
	sessionCustomer  protowire.Number = 6
	sessionPageType  protowire.Number = 7
	sessionAction    protowire.Number = 8
	sessionState     protowire.Number = 9
	sessionVariation protowire.Number = 10
	sessionCategory  protowire.Number = 11
	sessionSearch    protowire.Number = 12
	sessionProduct   protowire.Number = 13
	sessionCartToken protowire.Number = 14
	sessionOrder     protowire.Number = 15
	sessionEffects   protowire.Number = 16
	sessionCtxVer    protowire.Number = 17
	sessionTenantCtx protowire.Number = 18

	cartItem protowire.Number = 1

	itemProductID    protowire.Number = 1
	itemSkuID        protowire.Number = 2
	itemName         protowire.Number = 3
	itemQuantity     protowire.Number = 4
	itemUnitPrice    protowire.Number = 5
	itemCurrencyCode protowire.Number = 6

	customerReference protowire.Number = 1
	customerEmail     protowire.Number = 2
	customerFirstName protowire.Number = 3
	customerLastName  protowire.Number = 4
	customerMarketing protowire.Number = 5
	customerGroup     protowire.Number = 6
	customerVerified  protowire.Number = 7
)

var errWireType = errors.New("field has the wrong wire type")

// MarshalBinary implements encoding.BinaryMarshaler.
func (s *Session) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(nil), nil
}

// AppendBinary appends the binary form of s to b. Times outside the range
// of UnixNano (years 1678 to 2262) do not survive the round trip.
func (s *Session) AppendBinary(b []byte) []byte {
	b = appendString(b, sessionID, s.ID)
	b = appendVarint(b, sessionVersion, s.Version)
	b = appendTime(b, sessionCreatedAt, s.CreatedAt)
	b = appendTime(b, sessionUpdatedAt, s.UpdatedAt)
	b = appendMessage(b, sessionCart, false, s.Cart.appendBinary)
	b = appendMessage(b, sessionCustomer, false, s.Customer.appendBinary)
	b = appendString(b, sessionPageType, string(s.PageType))
	b = appendString(b, sessionAction, string(s.Action))
	b = s.appendContext(b)
	return appendMessage(b, sessionEnrichment, false, s.Enrichment.appendBinary)
}

func (c *Cart) appendBinary(b []byte) []byte {
	for i := range c.Items {
		// Kept even when empty: the item count is part of the cart.
		b = appendMessage(b, cartItem, true, c.Items[i].appendBinary)
	}
	return b
}

func (it *CartItem) appendBinary(b []byte) []byte {
	b = appendString(b, itemProductID, it.ProductID)
	b = appendString(b, itemSkuID, it.SkuID)
	b = appendString(b, itemName, it.Name)
	b = appendVarint(b, itemQuantity, uint64(int64(it.Quantity)))
	b = appendVarint(b, itemUnitPrice, protowire.EncodeZigZag(int64(it.UnitPrice)))
	return appendString(b, itemCurrencyCode, it.PriceCurrencyCode)
}

func (c *Customer) appendBinary(b []byte) []byte {
	b = appendString(b, customerReference, c.CustomerReference)
	b = appendString(b, customerEmail, c.Email)
	b = appendString(b, customerFirstName, c.FirstName)
	b = appendString(b, customerLastName, c.LastName)
	b = appendVarint(b, customerMarketing, protowire.EncodeBool(c.MarketingPermission))
	b = appendString(b, customerGroup, c.CustomerGroup)
	return appendVarint(b, customerVerified, protowire.EncodeBool(c.Verified))
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	// Not appendVarint: the Unix epoch itself is a real time, not a zero.
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(t.UnixNano()))
}

// appendMessage appends a nested message in place: the body is written
// first and its length inserted before it, so no scratch buffer is needed.
func appendMessage(b []byte, num protowire.Number, keepEmpty bool, body func([]byte) []byte) []byte {
	tagStart := len(b)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = body(b)
	n := len(b) - start
	if n == 0 && !keepEmpty {
		return b[:tagStart]
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size)...)
	copy(b[start+size:], b[start:start+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. It replaces all of
// s; on error s is left zeroed apart from what was decoded so far. b is
// copied once, and the session's strings share that copy: one allocation
// instead of one per string, on every store read.
func (s *Session) UnmarshalBinary(b []byte) error {
	return s.UnmarshalBinaryShared(bytes.Clone(b))
}

// UnmarshalBinaryShared is UnmarshalBinary for a b that the caller gives
// away, such as the copy a cache hands out: the session's strings share
// b's memory instead of a copy of it, so b must never be changed again.
func (s *Session) UnmarshalBinaryShared(b []byte) error {
	*s = Session{}
	if err := decodeFields(b, s.decodeField); err != nil {
		return fmt.Errorf("decoding session: %w", err)
	}
	return nil
}

// fieldDecoder decodes the value of one known field from b and returns how
// many bytes it used. It returns n == 0 (and no error) for unknown fields.
type fieldDecoder func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error)

// decodeFields walks the fields of one message, skipping unknown ones.
func decodeFields(b []byte, field fieldDecoder) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m, err := field(num, typ, b)
		if err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
		if m == 0 {
			m = protowire.ConsumeFieldValue(num, typ, b)
		}
		if m < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

func (s *Session) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case sessionID:
		return consumeString(typ, b, &s.ID)
	case sessionVersion:
		return consumeVarint(typ, b, func(v uint64) { s.Version = v })
	case sessionCreatedAt:
		return consumeVarint(typ, b, func(v uint64) { s.CreatedAt = unixNano(v) })
	case sessionUpdatedAt:
		return consumeVarint(typ, b, func(v uint64) { s.UpdatedAt = unixNano(v) })
	case sessionCart:
		return consumeMessage(typ, b, s.Cart.decodeField)
	case sessionCustomer:
		return consumeMessage(typ, b, s.Customer.decodeField)
	case sessionPageType:
		return consumeString(typ, b, (*string)(&s.PageType))
	case sessionAction:
		return consumeString(typ, b, (*string)(&s.Action))
	case sessionEnrichment:
		return consumeMessage(typ, b, s.Enrichment.decodeField)
	}
	return s.decodeContext(num, typ, b)
}

func (c *Cart) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	if num != cartItem {
		return 0, nil
	}
	var it CartItem
	n, err := consumeMessage(typ, b, it.decodeField)
	if err == nil {
		if c.Items == nil {
			c.Items = make([]CartItem, 0, 4) // most carts: one allocation
		}
		c.Items = append(c.Items, it)
	}
	return n, err
}

func (it *CartItem) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case itemProductID:
		return consumeString(typ, b, &it.ProductID)
	case itemSkuID:
		return consumeString(typ, b, &it.SkuID)
	case itemName:
		return consumeString(typ, b, &it.Name)
	case itemQuantity:
		return consumeVarint(typ, b, func(v uint64) { it.Quantity = int(int64(v)) })
	case itemUnitPrice:
		return consumeVarint(typ, b, func(v uint64) { it.UnitPrice = Decimal(protowire.DecodeZigZag(v)) })
	case itemCurrencyCode:
		return consumeString(typ, b, &it.PriceCurrencyCode)
	}
	return 0, nil
}

func (c *Customer) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case customerReference:
		return consumeString(typ, b, &c.CustomerReference)
	case customerEmail:
		return consumeString(typ, b, &c.Email)
	case customerFirstName:
		return consumeString(typ, b, &c.FirstName)
	case customerLastName:
		return consumeString(typ, b, &c.LastName)
	case customerMarketing:
		return consumeVarint(typ, b, func(v uint64) { c.MarketingPermission = v != 0 })
	case customerGroup:
		return consumeString(typ, b, &c.CustomerGroup)
	case customerVerified:
		return consumeVarint(typ, b, func(v uint64) { c.Verified = v != 0 })
	}
	return 0, nil
}

// A known field with another wire type is corruption, not a newer schema:
// field numbers are never reused.
func consumeString(typ protowire.Type, b []byte, dst *string) (int, error) {
	if typ != protowire.BytesType {
		return 0, errWireType
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	// Shares the buffer, which UnmarshalBinaryShared's caller gave away
	// (UnmarshalBinary's is its own copy): nothing writes to it again, so
	// the string is as immutable as any.
	*dst = unsafe.String(unsafe.SliceData(v), len(v))
	return n, nil
}

func consumeVarint(typ protowire.Type, b []byte, set func(uint64)) (int, error) {
	if typ != protowire.VarintType {
		return 0, errWireType
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	set(v)
	return n, nil
}

func consumeMessage(typ protowire.Type, b []byte, field fieldDecoder) (int, error) {
	if typ != protowire.BytesType {
		return 0, errWireType
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	return n, decodeFields(v, field)
}

// unixNano is the inverse of Time.UnixNano, in UTC so that decoded sessions
// compare equal whatever the local zone.
func unixNano(v uint64) time.Time { return time.Unix(0, int64(v)).UTC() }

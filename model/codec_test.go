package model

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func fullSession() *Session {
	return &Session{
		ID:        "abc123.XYZ",
		Version:   42,
		CreatedAt: time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC),
		UpdatedAt: time.Date(2026, 3, 1, 11, 30, 0, 1, time.UTC),
		Cart: Cart{Items: []CartItem{
			{ProductID: "p1", SkuID: "s1", Name: "Shoe ✓", Quantity: 2, UnitPrice: 12345 * 10_000, PriceCurrencyCode: "EUR"},
			{ProductID: "p2", Quantity: -1, UnitPrice: -5},
			{}, // an empty line still counts as a line
			{ProductID: "p3", Quantity: 1 << 40, UnitPrice: Decimal(1<<62 + 7)},
		}},
		Customer: Customer{
			CustomerReference:   "c-9",
			Email:               "a@example.com",
			FirstName:           "Ann",
			LastName:            "Lee",
			MarketingPermission: true,
			Verified:            true,
		},
		PageType: PageCart,
		Action:   ActionViewCart,
	}
}

func roundTrip(t *testing.T, s *Session) *Session {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Session
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	return &got
}

func TestCodecRoundTrip(t *testing.T) {
	for name, s := range map[string]*Session{
		"full":        fullSession(),
		"empty":       {},
		"id only":     {ID: "x"},
		"epoch":       {CreatedAt: time.Unix(0, 0).UTC()},
		"before 1970": {UpdatedAt: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)},
		"customer":    {Customer: Customer{MarketingPermission: true}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := roundTrip(t, s); !reflect.DeepEqual(got, s) {
				t.Errorf("got %+v\nwant %+v", got, s)
			}
		})
	}
}

func TestCodecEmptyIsEmpty(t *testing.T) {
	if b := (&Session{}).AppendBinary(nil); len(b) != 0 {
		t.Errorf("empty session encodes to %x, want nothing", b)
	}
}

func TestCodecZeroTimes(t *testing.T) {
	s := fullSession()
	s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
	got := roundTrip(t, s)
	if !got.CreatedAt.IsZero() || !got.UpdatedAt.IsZero() {
		t.Errorf("zero times decoded as %v, %v", got.CreatedAt, got.UpdatedAt)
	}
}

func TestCodecTimesDecodeInUTC(t *testing.T) {
	zone := time.FixedZone("X", 3*3600)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, zone)
	got := roundTrip(t, &Session{CreatedAt: at})
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(at) {
		t.Errorf("got %v, want %v in UTC", got.CreatedAt, at)
	}
}

func TestCodecSkipsUnknownFields(t *testing.T) {
	want := fullSession()
	b := want.AppendBinary(nil)
	// A future version's fields, of every wire type, before and after.
	future := protowire.AppendTag(nil, 99, protowire.VarintType)
	future = protowire.AppendVarint(future, 1<<50)
	future = protowire.AppendTag(future, 100, protowire.BytesType)
	future = protowire.AppendString(future, "new")
	future = protowire.AppendTag(future, 101, protowire.Fixed64Type)
	future = protowire.AppendFixed64(future, 7)
	future = protowire.AppendTag(future, 102, protowire.Fixed32Type)
	future = protowire.AppendFixed32(future, 7)
	b = append(append(append([]byte{}, future...), b...), future...)

	var got Session
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got %+v\nwant %+v", &got, want)
	}
}

func TestCodecSkipsUnknownNestedFields(t *testing.T) {
	item := protowire.AppendTag(nil, itemProductID, protowire.BytesType)
	item = protowire.AppendString(item, "p")
	item = protowire.AppendTag(item, 77, protowire.BytesType)
	item = protowire.AppendString(item, "future")
	cart := protowire.AppendTag(nil, cartItem, protowire.BytesType)
	cart = protowire.AppendBytes(cart, item)
	b := protowire.AppendTag(nil, sessionCart, protowire.BytesType)
	b = protowire.AppendBytes(b, cart)

	var got Session
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if want := []CartItem{{ProductID: "p"}}; !reflect.DeepEqual(got.Cart.Items, want) {
		t.Errorf("items = %+v, want %+v", got.Cart.Items, want)
	}
}

func TestCodecRejectsEveryPrefix(t *testing.T) {
	b := fullSession().AppendBinary(nil)
	// Each cut lands inside a tag, a varint or a length-delimited value
	// except at field boundaries, which are valid shorter sessions.
	boundaries := topLevelBoundaries(t, b)
	for i := 0; i < len(b); i++ {
		var s Session
		err := s.UnmarshalBinary(b[:i])
		if boundaries[i] && err != nil {
			t.Errorf("prefix %d at a field boundary: %v", i, err)
		}
		if !boundaries[i] && err == nil {
			t.Errorf("prefix %d of %d decoded without error", i, len(b))
		}
	}
}

func topLevelBoundaries(t *testing.T, b []byte) map[int]bool {
	t.Helper()
	at := map[int]bool{0: true}
	for off := 0; off < len(b); {
		_, _, n := protowire.ConsumeField(b[off:])
		if n < 0 {
			t.Fatalf("own encoding does not parse at %d", off)
		}
		off += n
		at[off] = true
	}
	return at
}

func TestCodecRejectsGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"field zero":        {0x00, 0x01},
		"end group":         {0x0c},
		"overlong varint":   {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"length too long":   {0x0a, 0x05, 'a'},
		"id as varint":      {0x08, 0x01},
		"version as bytes":  {0x12, 0x01, 'a'},
		"cart as varint":    {0x28, 0x01},
		"bad nested item":   {0x2a, 0x02, 0x0a, 0x05},
		"customer garbage":  {0x32, 0x01, 0xff},
		"reserved wiretype": {0x0e},
	} {
		var s Session
		if err := s.UnmarshalBinary(b); err == nil {
			t.Errorf("%s: decoded %+v without error", name, s)
		}
	}
}

func TestCodecResetsTarget(t *testing.T) {
	s := fullSession()
	if err := s.UnmarshalBinary((&Session{ID: "other"}).AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, &Session{ID: "other"}) {
		t.Errorf("stale fields survived: %+v", s)
	}
}

func TestCodecAppendsToPrefix(t *testing.T) {
	s := fullSession()
	b := s.AppendBinary([]byte("prefix"))
	if string(b[:6]) != "prefix" {
		t.Fatalf("prefix overwritten: %q", b[:6])
	}
	var got Session
	if err := got.UnmarshalBinary(b[6:]); err != nil || !reflect.DeepEqual(&got, s) {
		t.Errorf("got %+v, %v", &got, err)
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(fullSession().AppendBinary(nil))
	distinct, _ := distinctSession(f, nil)
	f.Add(distinct.AppendBinary(nil))
	f.Add((&Session{ID: "x", Version: 1}).AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{0x2a, 0x00, 0x2a, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x18, 0x00, 0xa0, 0x06, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s1 Session
		if err := s1.UnmarshalBinary(b); err != nil {
			return
		}
		var s2 Session
		if err := s2.UnmarshalBinary(s1.AppendBinary(nil)); err != nil {
			t.Fatalf("re-encoded session does not decode: %v", err)
		}
		if !reflect.DeepEqual(&s1, &s2) {
			t.Fatalf("round trip changed the session:\n%+v\n%+v", &s1, &s2)
		}
	})
}

package model

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Consent is the visitor's consent decision as the shop's consent banner
// last stated it: the purposes granted, in the banner's own names
// (TCF's "tcf-1" … "tcf-11", Cookiebot's "marketing", …), sorted. A
// sink that requires purposes gets the visitor's data only when all are
// granted.
type Consent struct {
	Granted []string `json:"granted"`
	// Stated is false when no consent cookie was found, and Granted is
	// what the configuration assumes without one.
	Stated bool `json:"stated"`
}

// Allows reports whether every purpose in required is granted. A nil
// Consent (no consent configured) allows only what requires nothing.
func (c *Consent) Allows(required []string) bool {
	for _, p := range required {
		if c == nil || !slices.Contains(c.Granted, p) {
			return false
		}
	}
	return true
}

// Equal reports whether both say the same.
func (c *Consent) Equal(o *Consent) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.Stated == o.Stated && slices.Equal(c.Granted, o.Granted)
}

// The consent, encoded like the rest of codec.go:
// Session{21 consent} Consent{1 granted (repeated), 2 stated}
const (
	sessionConsent protowire.Number = 21

	consentGranted protowire.Number = 1
	consentStated  protowire.Number = 2
)

func (s *Session) appendConsent(b []byte) []byte {
	if s.Consent == nil {
		return b
	}
	return appendMessage(b, sessionConsent, true, s.Consent.appendBinary)
}

func (c *Consent) appendBinary(b []byte) []byte {
	for _, g := range c.Granted {
		b = protowire.AppendTag(b, consentGranted, protowire.BytesType)
		b = protowire.AppendString(b, g)
	}
	if c.Stated {
		b = appendVarint(b, consentStated, 1)
	}
	return b
}

func (c *Consent) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case consentGranted:
		var g string
		n, err := consumeString(typ, b, &g)
		if err == nil {
			c.Granted = append(c.Granted, g)
		}
		return n, err
	case consentStated:
		return consumeVarint(typ, b, func(v uint64) { c.Stated = v != 0 })
	}
	return 0, nil
}

func (s *Session) decodeConsent(typ protowire.Type, b []byte) (int, error) {
	if s.Consent == nil {
		s.Consent = new(Consent)
	}
	return consumeMessage(typ, b, s.Consent.decodeField)
}

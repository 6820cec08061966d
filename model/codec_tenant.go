package model

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protowire"
)

// The tenant contexts of a session, encoded like the rest of codec.go.

const (
	tenantName           protowire.Number = 1
	tenantVersion        protowire.Number = 2
	tenantCreatedAt      protowire.Number = 3
	tenantModifiedAt     protowire.Number = 4
	tenantCustomerID     protowire.Number = 5
	tenantSiteCode       protowire.Number = 6
	tenantCurrency       protowire.Number = 7
	tenantCartID         protowire.Number = 8
	tenantTargetLocation protowire.Number = 9
	tenantAttributes     protowire.Number = 10
)

func (s *Session) appendTenantContexts(b []byte) []byte {
	for i := range s.Contexts {
		b = appendMessage(b, sessionTenantCtx, true, s.Contexts[i].appendBinary)
	}
	return b
}

func (s *Session) decodeTenantContext(typ protowire.Type, b []byte) (int, error) {
	var tc TenantContext
	n, err := consumeMessage(typ, b, tc.decodeField)
	if err == nil {
		s.Contexts = append(s.Contexts, tc)
	}
	return n, err
}

func (tc *TenantContext) appendBinary(b []byte) []byte {
	b = appendString(b, tenantName, tc.Tenant)
	b = appendVarint(b, tenantVersion, tc.Version)
	b = appendTime(b, tenantCreatedAt, tc.CreatedAt)
	b = appendTime(b, tenantModifiedAt, tc.ModifiedAt)
	b = appendString(b, tenantCustomerID, tc.CustomerID)
	b = appendString(b, tenantSiteCode, tc.SiteCode)
	b = appendString(b, tenantCurrency, tc.Currency)
	b = appendString(b, tenantCartID, tc.CartID)
	b = appendString(b, tenantTargetLocation, tc.TargetLocation)
	if len(tc.Attributes) > 0 {
		b = protowire.AppendTag(b, tenantAttributes, protowire.BytesType)
		b = protowire.AppendBytes(b, tc.Attributes)
	}
	return b
}

func (tc *TenantContext) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case tenantName:
		return consumeString(typ, b, &tc.Tenant)
	case tenantVersion:
		return consumeVarint(typ, b, func(v uint64) { tc.Version = v })
	case tenantCreatedAt:
		return consumeVarint(typ, b, func(v uint64) { tc.CreatedAt = unixNano(v) })
	case tenantModifiedAt:
		return consumeVarint(typ, b, func(v uint64) { tc.ModifiedAt = unixNano(v) })
	case tenantCustomerID:
		return consumeString(typ, b, &tc.CustomerID)
	case tenantSiteCode:
		return consumeString(typ, b, &tc.SiteCode)
	case tenantCurrency:
		return consumeString(typ, b, &tc.Currency)
	case tenantCartID:
		return consumeString(typ, b, &tc.CartID)
	case tenantTargetLocation:
		return consumeString(typ, b, &tc.TargetLocation)
	case tenantAttributes:
		var v string
		n, err := consumeString(typ, b, &v)
		if v != "" {
			tc.Attributes = json.RawMessage(v)
		}
		return n, err
	}
	return 0, nil
}

package model

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protowire"
)

// The session's page context and orders, encoded like the rest of codec.go.

const (
	productID       protowire.Number = 1
	productName     protowire.Number = 2
	productPrice    protowire.Number = 3
	productCurrency protowire.Number = 4

	orderNumber protowire.Number = 1
	orderBuyer  protowire.Number = 2
	orderItem   protowire.Number = 3
	orderVer    protowire.Number = 4
	orderStatus protowire.Number = 5
	orderPay    protowire.Number = 6
	orderRef    protowire.Number = 7
	orderStVer  protowire.Number = 8
)

func (s *Session) appendContext(b []byte) []byte {
	b = appendString(b, sessionState, string(s.State))
	b = appendString(b, sessionVariation, s.Variation)
	b = appendString(b, sessionCategory, s.Category)
	b = appendString(b, sessionSearch, s.SearchTerm)
	if s.Product != nil {
		b = appendMessage(b, sessionProduct, true, s.Product.appendBinary)
	}
	b = appendString(b, sessionCartToken, s.CartToken)
	for i := range s.Orders {
		b = appendMessage(b, sessionOrder, true, s.Orders[i].appendBinary)
	}
	if len(s.Effects) > 0 {
		b = protowire.AppendTag(b, sessionEffects, protowire.BytesType)
		b = protowire.AppendBytes(b, s.Effects)
	}
	b = appendVarint(b, sessionCtxVer, uint64(s.ContextVersion))
	b = s.appendTenantContexts(b)
	b = s.appendHistory(b)
	return s.appendConsent(b)
}

func (s *Session) decodeContext(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case sessionState:
		return consumeString(typ, b, (*string)(&s.State))
	case sessionVariation:
		return consumeString(typ, b, &s.Variation)
	case sessionCategory:
		return consumeString(typ, b, &s.Category)
	case sessionSearch:
		return consumeString(typ, b, &s.SearchTerm)
	case sessionProduct:
		// A repeated product field merges into the first, as protobuf
		// (session.proto) has it; our encoder writes one at most.
		if s.Product == nil {
			s.Product = new(Product)
		}
		return consumeMessage(typ, b, s.Product.decodeField)
	case sessionCartToken:
		return consumeString(typ, b, &s.CartToken)
	case sessionEffects:
		var v string
		n, err := consumeString(typ, b, &v)
		// Empty effects are no effects: the encoder writes none for them,
		// so decoding them as nil keeps a round trip exact.
		s.Effects = nil
		if v != "" {
			s.Effects = json.RawMessage(v)
		}
		return n, err
	case sessionCtxVer:
		return consumeVarint(typ, b, func(v uint64) { s.ContextVersion = int64(v) })
	case sessionTenantCtx:
		return s.decodeTenantContext(typ, b)
	case sessionHistory:
		return s.decodeHistory(typ, b)
	case sessionLoginRef:
		return consumeString(typ, b, &s.LoginRef)
	case sessionConsent:
		return s.decodeConsent(typ, b)
	case sessionOrder:
		var o Order
		n, err := consumeMessage(typ, b, o.decodeField)
		if err == nil {
			s.Orders = append(s.Orders, o)
		}
		return n, err
	}
	return 0, nil
}

func (p *Product) appendBinary(b []byte) []byte {
	b = appendString(b, productID, p.ProductID)
	b = appendString(b, productName, p.Name)
	b = appendVarint(b, productPrice, protowire.EncodeZigZag(int64(p.Price)))
	return appendString(b, productCurrency, p.PriceCurrencyCode)
}

func (p *Product) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case productID:
		return consumeString(typ, b, &p.ProductID)
	case productName:
		return consumeString(typ, b, &p.Name)
	case productPrice:
		return consumeVarint(typ, b, func(v uint64) { p.Price = Decimal(protowire.DecodeZigZag(v)) })
	case productCurrency:
		return consumeString(typ, b, &p.PriceCurrencyCode)
	}
	return 0, nil
}

func (o *Order) appendBinary(b []byte) []byte {
	b = appendString(b, orderNumber, o.OrderNumber)
	b = appendMessage(b, orderBuyer, false, o.Buyer.appendBinary)
	for i := range o.Items {
		b = appendMessage(b, orderItem, true, o.Items[i].appendBinary)
	}
	b = appendVarint(b, orderVer, o.Version)
	b = appendString(b, orderStatus, o.StatusCode)
	b = appendString(b, orderPay, o.PaymentProvider)
	b = appendString(b, orderRef, o.ExternalRef)
	return appendVarint(b, orderStVer, o.StatusVersion)
}

func (o *Order) decodeField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	switch num {
	case orderNumber:
		return consumeString(typ, b, &o.OrderNumber)
	case orderBuyer:
		return consumeMessage(typ, b, o.Buyer.decodeField)
	case orderVer:
		return consumeVarint(typ, b, func(v uint64) { o.Version = v })
	case orderStatus:
		return consumeString(typ, b, &o.StatusCode)
	case orderPay:
		return consumeString(typ, b, &o.PaymentProvider)
	case orderRef:
		return consumeString(typ, b, &o.ExternalRef)
	case orderStVer:
		return consumeVarint(typ, b, func(v uint64) { o.StatusVersion = v })
	case orderItem:
		var it CartItem
		n, err := consumeMessage(typ, b, it.decodeField)
		if err == nil {
			o.Items = append(o.Items, it)
		}
		return n, err
	}
	return 0, nil
}

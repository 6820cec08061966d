package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Nosto's conversions. A new order is sent once with placeOrder, before
// the session's update; a later change of its status or payment provider
// with updateStatus. The visitor is named as Nosto's PHP SDK and Magento
// module do:
//
//   - by BY_CID with the session id, when it is Nosto's own customer id
//     (NostoConfig.SessionIsCID: the session is read from the 2c.cId
//     cookie);
//   - else by BY_REF with the HMAC of the customer reference the shop's
//     server stated (a verified customer);
//   - else not at all: Nosto could not attribute it, and a customer only a
//     browser claimed is no identity. Such orders are counted
//     (NostoConfig.OnUnattributed) and logged by the caller.
//
// The customer in placeOrder is {} (as the SDK sends since 5.6), or, when
// a verified buyer gave marketing permission, its names and email with
// the permission. Every request carries an Idempotency-Key: for an order,
// derived from the session and the order number (and the status, for
// updateStatus), the same on every attempt, so that a redelivery is
// recognisable. What was sent is remembered in the sink's State (in Redis
// for a fleet), so that a retry of the update does not send it again.
//
// Nosto's order has no fields for discounts or shipping and the captured
// order has none either: they are not sent.

const nostoPlaceOrderQuery = `mutation SessiontapPlaceOrder($by: LookupParams!, $id: String!, $number: String!, $orderStatus: String!, $paymentProvider: String!, $ref: String!, $purchasedItems: [InputItem]!) {
  placeOrder(by: $by, id: $id, params: {customer: {}, order: {number: $number, orderStatus: $orderStatus, paymentProvider: $paymentProvider, ref: $ref, purchasedItems: $purchasedItems}}) {
    id
  }
}`

// nostoPlaceOrderWithCustomerQuery is placeOrder for a verified buyer who
// gave marketing permission.
const nostoPlaceOrderWithCustomerQuery = `mutation SessiontapPlaceOrder($by: LookupParams!, $id: String!, $firstName: String!, $lastName: String!, $email: String!, $marketingPermission: Boolean!, $number: String!, $orderStatus: String!, $paymentProvider: String!, $ref: String!, $purchasedItems: [InputItem]!) {
  placeOrder(by: $by, id: $id, params: {customer: {firstName: $firstName, lastName: $lastName, email: $email, marketingPermission: $marketingPermission}, order: {number: $number, orderStatus: $orderStatus, paymentProvider: $paymentProvider, ref: $ref, purchasedItems: $purchasedItems}}) {
    id
  }
}`

const nostoUpdateStatusQuery = `mutation SessiontapUpdateStatus($number: String!, $orderStatus: String!, $paymentProvider: String!, $statusDate: LocalDateTime!) {
  updateStatus(number: $number, params: {orderStatus: $orderStatus, paymentProvider: $paymentProvider, statusDate: $statusDate}) {
    number
  }
}`

// nostoLocalDateTime is Nosto's LocalDateTime, in UTC.
const nostoLocalDateTime = "2006-01-02T15:04:05"

type nostoQuery struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// deliverOrders sends u's new orders and status changes that the sink's
// State does not know as sent.
func (n *Nosto) deliverOrders(ctx context.Context, u *Update, red Redaction) error {
	s := &u.Session
	for _, o := range u.NewOrders() {
		by, id, ok := n.orderBuyer(s, o)
		if !ok {
			if n.onUnattributed != nil {
				n.onUnattributed()
			}
			continue
		}
		key := n.orderKey("o", s, o.OrderNumber)
		if _, sent := n.state.Get(ctx, key); sent {
			continue
		}
		if err := n.sendQuery(ctx, n.placeOrder(by, id, o), orderEventID(s, o.OrderNumber, ""), red); err != nil {
			return err
		}
		n.remember(ctx, key, o.StatusCode+"\x00"+o.PaymentProvider)
	}
	for _, o := range u.StatusChanges() {
		key := n.orderKey("o", s, o.OrderNumber)
		now := o.StatusCode + "\x00" + o.PaymentProvider
		// Only an order Nosto has: a guest's order it never got, or one
		// from before orders were sent, gets no status of its own.
		if sent, placed := n.state.Get(ctx, key); !placed || sent == now {
			continue
		}
		q := nostoQuery{Query: nostoUpdateStatusQuery, Variables: map[string]any{
			"number": o.OrderNumber, "orderStatus": o.StatusCode, "paymentProvider": o.PaymentProvider,
			"statusDate": u.OccurredAt.UTC().Format(nostoLocalDateTime)}}
		if err := n.sendQuery(ctx, q, orderEventID(s, o.OrderNumber, now), red); err != nil {
			return err
		}
		n.remember(ctx, key, now)
	}
	return nil
}

// remember records what Nosto took, even when the attempt's time is up:
// Nosto has it, and a retry must not send it again.
func (n *Nosto) remember(ctx context.Context, key, value string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	n.state.Put(ctx, key, value)
}

// orderBuyer names the visitor to Nosto for o; ok is false when neither
// Nosto's customer id nor a verified reference is known.
func (n *Nosto) orderBuyer(s *model.Session, o model.Order) (by, id string, ok bool) {
	if n.sessionIsCID && !model.IsOwnID(s.ID) {
		return "BY_CID", s.ID, true
	}
	ref := s.Customer.Trusted().CustomerReference
	if ref == "" && o.Buyer.Verified {
		ref = o.Buyer.CustomerReference
	}
	if ref == "" {
		return "", "", false
	}
	return "BY_REF", n.hasher.Hash(ref), true
}

// placeOrder is the placeOrder request for o.
func (n *Nosto) placeOrder(by, id string, o model.Order) nostoQuery {
	items := make([]nostoCartItem, 0, len(o.Items))
	for _, it := range o.Items {
		items = append(items, nostoCartItem{ProductID: it.ProductID, SkuID: it.SkuID, Name: it.Name,
			Quantity: it.Quantity, UnitPrice: it.UnitPrice, PriceCurrencyCode: it.PriceCurrencyCode})
	}
	ref := o.ExternalRef
	if ref == "" {
		ref = o.OrderNumber
	}
	vars := map[string]any{"by": by, "id": id, "number": o.OrderNumber, "orderStatus": o.StatusCode,
		"paymentProvider": o.PaymentProvider, "ref": ref, "purchasedItems": items}
	q := nostoQuery{Query: nostoPlaceOrderQuery, Variables: vars}
	// Personal data only for a buyer the shop's server stated, who
	// agreed to marketing: what Nosto needs it for.
	if b := o.Buyer; b.Verified && b.MarketingPermission {
		q.Query = nostoPlaceOrderWithCustomerQuery
		vars["firstName"], vars["lastName"], vars["email"], vars["marketingPermission"] = b.FirstName, b.LastName, b.Email, true
	}
	return q
}

func (n *Nosto) sendQuery(ctx context.Context, q nostoQuery, key string, red Redaction) error {
	body, err := json.Marshal(q)
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("nosto: encoding the mutation: %w", err)}
	}
	return n.send(ctx, body, key, red)
}

// orderKey names what the sink's State keeps of an order: keyed, so that
// neither the session id nor the order number is kept in clear.
func (n *Nosto) orderKey(kind string, s *model.Session, number string) string {
	return "nosto:" + kind + ":" + n.hasher.Hash(s.ID+"\x00"+number)
}

// orderEventID is the Idempotency-Key of an order's placeOrder (status
// "") or of one of its status changes: the same on every attempt.
func orderEventID(s *model.Session, number, status string) string {
	h := sha256.New()
	h.Write([]byte("nosto-order\x00" + s.ID + "\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s.CreatedAt.UnixMicro()))
	h.Write(b[:])
	h.Write([]byte(number + "\x00" + status))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// UseState implements Stateful: what was sent lives in st from now on.
func (n *Nosto) UseState(st State) { n.state = st }

var _ Stateful = (*Nosto)(nil)

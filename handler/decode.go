package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sessiontap/caddy-sessiontap/internal/strictjson"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// maxItems bounds a collected cart: what a cart may hold at all.
const maxItems = model.MaxCartItems

// collectBody is the collect endpoint's JSON, shaped like Nosto's Session
// API. Cart and customer stay raw so that missing, null and {} differ.
type collectBody struct {
	Cart     json.RawMessage `json:"cart"`
	Customer json.RawMessage `json:"customer"`
	PageType *string         `json:"page_type"`
	Action   *string         `json:"action"`
	// CustomerToken is the shop's signed word that the customer is the
	// one logged in (CustomerToken).
	CustomerToken *string `json:"customer_token"`
}

// collected is a decoded collect body.
type collected struct {
	patch model.Patch
	// token is the customer token, "" when none was sent.
	token string
}

// rawItem keeps each value raw so an error can name the item and field.
type rawItem struct {
	ProductID         json.RawMessage `json:"product_id"`
	SkuID             json.RawMessage `json:"sku_id"`
	Name              json.RawMessage `json:"name"`
	Quantity          json.RawMessage `json:"quantity"`
	UnitPrice         json.RawMessage `json:"unit_price"`
	PriceCurrencyCode json.RawMessage `json:"price_currency_code"`
}

type rawCustomer struct {
	CustomerReference   json.RawMessage `json:"customer_reference"`
	Email               json.RawMessage `json:"email"`
	FirstName           json.RawMessage `json:"first_name"`
	LastName            json.RawMessage `json:"last_name"`
	MarketingPermission json.RawMessage `json:"marketing_permission"`
	Newsletter          json.RawMessage `json:"newsletter"`
}

// decodeCollect reads and validates a collect body. Any error names the
// field at fault, and nothing of a refused body is applied.
func decodeCollect(r io.Reader) (collected, *fieldError) {
	var body collectBody
	if ferr := decodeStrict(r, &body); ferr != nil {
		return collected{}, ferr
	}
	p, ferr := decodePatch(&body)
	c := collected{patch: p}
	if body.CustomerToken != nil {
		c.token = *body.CustomerToken
	}
	return c, ferr
}

func decodePatch(body *collectBody) (model.Patch, *fieldError) {
	var p model.Patch
	var ferr *fieldError
	if p.Cart, ferr = decodeCart(body.Cart); ferr != nil {
		return p, ferr
	}
	if p.Customer, ferr = decodeCustomer(body.Customer); ferr != nil {
		return p, ferr
	}
	if body.PageType != nil {
		p.PageType = model.PageType(*body.PageType)
		if !p.PageType.Valid() {
			return p, badField("page_type", "not a Nosto page type (front, category, product, cart, search, notfound, order, other, checkout)")
		}
		p.Action = p.PageType.Action()
	}
	if body.Action != nil {
		p.Action = model.Action(*body.Action)
		if !p.Action.Valid() {
			return p, badField("action", "not a Nosto session action (viewFrontPage, viewCategory, viewProduct, viewCart, viewSearch, viewNotFound, addOrder, viewOther)")
		}
	}
	return p, nil
}

// decodeStrict decodes one JSON object from r into v and nothing after it.
func decodeStrict(r io.Reader, v any) *fieldError {
	data, err := io.ReadAll(r)
	if err != nil {
		if mbe, ok := errorsAs[*http.MaxBytesError](err); ok {
			return badField("body", fmt.Sprintf("larger than %d bytes", mbe.Limit))
		}
		return badField("body", "could not be read")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return badField("body", "must be a JSON object")
	}
	// Go's decoder keeps the last of duplicate keys and turns bytes that
	// are not UTF-8 into U+FFFD: a body whose meaning depends on the
	// parser is refused instead.
	if e := strictjson.Check(data); e != nil {
		return badField(e.Field, e.Msg)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoding error into a field error without echoing the
// value (it may be personal data).
func jsonError(err error) *fieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badField(te.Field, "must be "+jsonKind(te.Type.Kind().String()))
	}
	return badField("body", "invalid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return "a " + goKind
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func decodeCart(raw json.RawMessage) (*model.Cart, *fieldError) {
	if isNull(raw) {
		return nil, nil
	}
	var c struct {
		Items []json.RawMessage `json:"items"`
	}
	if raw[0] != '{' {
		return nil, badField("cart", "must be an object, {} or null")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, badField("cart.items", "must be an array of objects")
	}
	if len(c.Items) > maxItems {
		return nil, badField("cart.items", fmt.Sprintf("more than %d items", maxItems))
	}
	cart := &model.Cart{Items: make([]model.CartItem, 0, len(c.Items))}
	for i, rawIt := range c.Items {
		it, ferr := decodeItem(rawIt, "cart.items["+strconv.Itoa(i)+"]")
		if ferr != nil {
			return nil, ferr
		}
		cart.Items = append(cart.Items, it)
	}
	return cart, nil
}

func decodeItem(raw json.RawMessage, at string) (model.CartItem, *fieldError) {
	var it model.CartItem
	var r rawItem
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &r) != nil {
		return it, badField(at, "must be an object")
	}
	f := fields{at: at}
	it.ProductID = f.id(r.ProductID, "product_id", true)
	it.SkuID = f.id(r.SkuID, "sku_id", false)
	it.Name = f.text(r.Name, "name")
	it.Quantity = f.quantity(r.Quantity)
	it.UnitPrice = f.price(r.UnitPrice, "unit_price")
	it.PriceCurrencyCode = f.currency(r.PriceCurrencyCode)
	if f.err != nil {
		return model.CartItem{}, f.err
	}
	return it, nil
}

func decodeCustomer(raw json.RawMessage) (*model.Customer, *fieldError) {
	if isNull(raw) {
		return nil, nil
	}
	var r rawCustomer
	if raw[0] != '{' || json.Unmarshal(raw, &r) != nil {
		return nil, badField("customer", "must be an object, {} or null")
	}
	f := fields{at: "customer"}
	c := &model.Customer{
		CustomerReference: f.id(r.CustomerReference, "customer_reference", false),
		Email:             f.email(r.Email),
		FirstName:         f.text(r.FirstName, "first_name"),
		LastName:          f.text(r.LastName, "last_name"),
	}
	// marketing_permission is Nosto's name, newsletter its older alias;
	// when absent the visitor has not consented.
	if isNull(r.MarketingPermission) {
		c.MarketingPermission = f.boolean(r.Newsletter, "newsletter")
	} else {
		c.MarketingPermission = f.boolean(r.MarketingPermission, "marketing_permission")
	}
	if f.err != nil {
		return nil, f.err
	}
	return c, nil
}

package delivery

import "github.com/sessiontap/caddy-sessiontap/model"

// NewOrders are the orders of u's session that the sink has not had: those
// recorded after the version it last delivered (Since), when u placed an
// order itself or was coalesced with one that did. Orders are events: two
// placed while an update waited both go out, each once. An order recorded
// before orders carried their version counts as new when it is the last.
func (u *Update) NewOrders() []model.Order {
	orders := u.Session.Orders
	if u.Changed&model.ChangeOrder == 0 || len(orders) == 0 {
		return nil
	}
	var out []model.Order
	for _, o := range orders {
		if o.Version > u.Since && o.Version <= u.Session.Version {
			out = append(out, o)
		}
	}
	if last := orders[len(orders)-1]; len(out) == 0 && last.Version == 0 {
		out = append(out, last)
	}
	return out
}

// StatusChanges are the orders the sink has had whose status (or payment
// provider) changed since: recorded at or before Since, changed after it.
// An order new to the sink carries its current status itself.
func (u *Update) StatusChanges() []model.Order {
	if u.Changed&model.ChangeOrder == 0 {
		return nil
	}
	var out []model.Order
	for _, o := range u.Session.Orders {
		if o.Version <= u.Since && o.StatusVersion > u.Since && o.StatusVersion <= u.Session.Version {
			out = append(out, o)
		}
	}
	return out
}

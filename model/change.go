package model

// Change is a bit set of what a write changed in a session: what the
// visitor's path reports and the delivery engine forwards.
type Change uint32

// What a write can change.
const (
	ChangeCart Change = 1 << iota
	ChangeCustomer
	ChangeOrder
	ChangeAction   // a page view or other action, with or without the above
	ChangeContext  // a tenant's session context (the session-context API)
	ChangeFeedback // what an upstream answered (effects, context version)
	ChangeConsent  // the visitor's consent decision
)

// Data reports whether the write changed the cart, customer or orders.
func (c Change) Data() bool { return c&(ChangeCart|ChangeCustomer|ChangeOrder) != 0 }

// Package feed is the live feed of session changes the inspector shows:
// what changed in which session, where it came from, newest last. Ring
// keeps it in this process's memory (the embedded store's one node);
// Stream keeps it in a capped Redis Stream, so every node of a fleet sees
// every node's changes. Events name parts and pages, never customer
// values. It imports no Caddy.
package feed

import (
	"context"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// DefaultSize is how many events a feed keeps unless told otherwise.
const DefaultSize = 1000

// Event kinds.
const (
	KindChange   = ""         // a change of the session (the zero value)
	KindDelivery = "delivery" // an attempt to deliver it to a sink
	// KindForget says the session was erased: feeds drop its events, and
	// in a fleet every node's copy does (Stream).
	KindForget = "forget"
)

// Event is one change of one session, or one attempt to deliver it.
type Event struct {
	// Kind is KindChange or KindDelivery; a delivery event has only
	// SessionID, Version, At, Sink, Outcome and Node.
	Kind string `json:"kind,omitempty"`
	// Sink and Outcome (delivered, retried, failed) describe a delivery.
	Sink    string `json:"sink,omitempty"`
	Outcome string `json:"outcome,omitempty"`

	SessionID string         `json:"session_id"`
	Version   uint64         `json:"version"`
	At        time.Time      `json:"at"`
	Source    model.Source   `json:"source"`
	Changes   model.Change   `json:"changes"`
	Path      string         `json:"path,omitempty"`
	PageType  model.PageType `json:"page_type,omitempty"`
	// CartLines and CartTotal describe the cart after the change.
	CartLines int           `json:"cart_lines"`
	CartTotal model.Decimal `json:"cart_total"`
	// Customer says whether a customer is known, never who.
	Customer bool `json:"customer"`
	// Node is the node that made the change (its host name), in a fleet.
	Node string `json:"node,omitempty"`
}

// EventOf describes the change e made to s.
func EventOf(s *model.Session, e model.HistoryEntry, node string) Event {
	return Event{
		SessionID: s.ID, Version: s.Version, At: e.At, Source: e.Source, Changes: e.Changes,
		Path: model.CleanPath(e.Path), PageType: s.PageType, CartLines: len(s.Cart.Items), CartTotal: s.Cart.Total(),
		Customer: !s.Customer.IsZero(), Node: node,
	}
}

// DeliveryOf is the event of an attempt to deliver a session's version.
func DeliveryOf(sink, sessionID string, version uint64, outcome, node string) Event {
	return Event{Kind: KindDelivery, SessionID: sessionID, Version: version, At: time.Now().UTC(),
		Sink: sink, Outcome: outcome, Node: node}
}

// Feed is a bounded, live list of recent events.
type Feed interface {
	// Publish adds e. It never blocks: an event that cannot be kept
	// now is dropped and counted.
	Publish(e Event)
	// Recent returns up to n of the newest events, oldest first.
	Recent(ctx context.Context, n int) ([]Event, error)
	// Subscribe returns a channel of the events published from now on,
	// and a function that ends the subscription. A subscriber that
	// falls behind loses events rather than slowing anyone.
	Subscribe() (<-chan Event, func())
	// Forget drops every event of the session (a GDPR erasure). A feed
	// shared by a fleet drops them on every node.
	Forget(ctx context.Context, sessionID string) error
	// Dropped counts the events lost so far: not kept (Publish) or not
	// delivered to a slow subscriber.
	Dropped() uint64
	// Close stops the feed's goroutines, if it has any.
	Close() error
}

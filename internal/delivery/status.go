package delivery

import (
	"encoding/json"
	"errors"
	"time"
)

// DeliveryStatus is what one sink knows of one session's deliveries, for
// operators: the last delivered version, what is waiting, and why the
// last attempt failed.
type DeliveryStatus struct {
	Sink string `json:"sink"`
	// Known is false when the sink holds nothing for the session and
	// remembers nothing of it (never queued, or forgotten since).
	Known bool `json:"known"`
	// DeliveredVersion and DeliveredAt: the last update the upstream took.
	DeliveredVersion uint64    `json:"delivered_version,omitempty"`
	DeliveredAt      time.Time `json:"delivered_at,omitzero"`
	// PendingVersion is the newest version not yet delivered (waiting, in
	// flight or waiting for its retry); 0 when none.
	PendingVersion uint64 `json:"pending_version,omitempty"`
	InFlight       bool   `json:"in_flight"`
	// Attempts made at the pending version so far or, when the sink gave
	// up its last update, the attempts it made at it.
	Attempts int `json:"attempts,omitempty"`
	// NextAttemptAt is when a retry is due, while one is.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// LastError is the last failed attempt's, if any (kept after a later
	// success, with its time, so a flapping upstream shows).
	LastError *DeliveryFailure `json:"last_error,omitempty"`
	// Requires are the consent purposes the sink needs (SinkOptions.Requires).
	Requires []string `json:"requires,omitempty"`
	// GivenUpAt is when the sink gave up its last update (its attempts
	// used up, or a failure not worth retrying), while nothing newer
	// waits: no further attempt is made until the session changes again
	// or an operator retries it.
	GivenUpAt time.Time `json:"given_up_at,omitzero"`
	// lastErrorOld: LastError is that of an update given up before the
	// pending one, which has not failed yet (so it is pending, not
	// failing).
	lastErrorOld bool
}

// State is the status in one word, for lists: "given_up" when the last
// update was given up and nothing newer waits, "failing" when the last
// attempt failed (and nothing was delivered since) and a retry or a newer
// update waits, "pending" when a version waits, "delivered", or "none"
// when nothing was sent yet.
func (st DeliveryStatus) State() string {
	failedLast := st.LastError != nil && !st.LastError.At.Before(st.DeliveredAt) && !st.lastErrorOld
	switch {
	case !st.GivenUpAt.IsZero():
		return "given_up"
	case failedLast:
		return "failing"
	case st.PendingVersion > 0:
		return "pending"
	case st.DeliveredVersion > 0:
		return "delivered"
	}
	return "none"
}

// MarshalJSON writes the status with its State.
func (st DeliveryStatus) MarshalJSON() ([]byte, error) {
	type plain DeliveryStatus
	return json.Marshal(struct {
		plain
		State string `json:"state"`
	}{plain(st), st.State()})
}

// DeliveryFailure describes a failed attempt without personal data: the
// upstream's status and the redacted start of its answer, or the network
// error's cause.
type DeliveryFailure struct {
	Status  int       `json:"status,omitempty"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

func failureOf(err error, at time.Time) *DeliveryFailure {
	f := &DeliveryFailure{At: at.UTC()}
	var de *DeliveryError
	if errors.As(err, &de) && de.Status != 0 {
		f.Status, f.Message = de.Status, de.Snippet
		return f
	}
	if errors.As(err, &de) && de.Err != nil {
		err = de.Err
	}
	f.Message = errCause(err)
	return f
}

package delivery

import (
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// A retry carries the first attempt's event id; another sink, another
// version or a re-created session (same id, new CreatedAt) gets another.
func TestEventIDStableAcrossRetries(t *testing.T) {
	fail := func(u *Update, call int) (Feedback, error) {
		if call == 1 {
			return Feedback{}, &DeliveryError{Status: 503, Retryable: true}
		}
		return Feedback{}, nil
	}
	a := &fakeSink{name: "a", answer: fail}
	b := &fakeSink{name: "b"}
	e, results := newTestEngine(t, Config{BaseBackoff: time.Millisecond}, nil)
	e.AddSink(a, SinkOptions{})
	e.AddSink(b, SinkOptions{})
	u := newUpd("s1", 1, model.ChangeCart)
	u.EventID = "caller's"
	e.Enqueue(u)
	await(t, results, "a", OutcomeDelivered, 1)
	await(t, results, "b", OutcomeDelivered, 1)
	ca, cb := a.callList(), b.callList()
	if len(ca) != 2 || len(cb) != 1 {
		t.Fatalf("calls %+v %+v", ca, cb)
	}
	want := EventID("a", &u.Session)
	if ca[0].eventID != want || ca[1].eventID != want {
		t.Errorf("sink a got %q then %q, want %q twice", ca[0].eventID, ca[1].eventID, want)
	}
	if cb[0].eventID == want || cb[0].eventID != EventID("b", &u.Session) {
		t.Errorf("sink b got %q", cb[0].eventID)
	}
	next := u.Session
	next.Version = 2
	again := u.Session
	again.CreatedAt = again.CreatedAt.Add(time.Second)
	for _, s := range []model.Session{next, again} {
		if EventID("a", &s) == want {
			t.Errorf("%+v has the same event id as version 1", s)
		}
	}
	if len(want) != 32 {
		t.Errorf("event id %q is not 32 hex digits", want)
	}
}

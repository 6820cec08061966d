package delivery

import (
	"sync/atomic"
	"time"
)

// outcome indexes a tally.
type outcome uint8

const (
	outDelivered outcome = iota
	outRetried
	outSuperseded
	outDropped
	outFailed
	outSkipped
	outNoConsent
	numOutcomes
	outNone = numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OutcomeDelivered, OutcomeRetried, OutcomeSuperseded, OutcomeDropped, OutcomeFailed, OutcomeSkipped, OutcomeNoConsent,
}

// tally counts one sink's outcomes, for Stats; per sink.
type tally [numOutcomes]atomic.Uint64

func (t *tally) add(o outcome, n int) {
	if o != outNone {
		t[o].Add(uint64(n))
	}
}

// fill copies the counters into st.
func (t *tally) fill(st *SinkStats) {
	st.Delivered, st.Retried, st.Superseded = t[outDelivered].Load(), t[outRetried].Load(), t[outSuperseded].Load()
	st.Dropped, st.Failed, st.Skipped = t[outDropped].Load(), t[outFailed].Load(), t[outSkipped].Load()
	st.NoConsent = t[outNoConsent].Load()
}

// attempted tells f (an engine's OnAttempt, possibly unset) of an
// attempt's outcome o.
func attempted(f *func(sink, sessionID string, version uint64, outcome string), sink, id string, version uint64, o outcome) {
	if f != nil && *f != nil && o != outNone {
		(*f)(sink, id, version, outcomeNames[o])
	}
}

// report tells f (an engine's OnResult, possibly unset) of n outcomes o.
func report(f *func(sink, outcome string, latency time.Duration), sink string, o outcome, n int, latency time.Duration) {
	if o == outNone || f == nil {
		return
	}
	for range n {
		(*f)(sink, outcomeNames[o], latency)
	}
}

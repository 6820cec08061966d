package upstream

import (
	"sync/atomic"
	"time"
)

// tally counts one sink's outcomes, for Stats; both engines keep one.
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

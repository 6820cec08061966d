package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Status implements Deliverer, from the session's delivery state in
// Redis: what any node of the fleet did.
func (o *Outbox) Status(ctx context.Context, sessionID string) ([]DeliveryStatus, error) {
	qs := o.queues()
	out := make([]DeliveryStatus, len(qs))
	for i, q := range qs {
		st, err := q.status(ctx, sessionID)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func (q *outboxSink) status(ctx context.Context, id string) (DeliveryStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, q.o.cfg.CommandTimeout)
	defer cancel()
	res := q.o.c.DoMulti(ctx,
		q.o.c.B().Hgetall().Key(q.keys.state+id).Build(),
		q.o.c.B().Zscore().Key(q.keys.lease).Member(id).Build())
	h, err := res[0].AsStrMap()
	if err != nil {
		return DeliveryStatus{}, err
	}
	_, leaseErr := res[1].AsFloat64()
	if leaseErr != nil && !rueidis.IsRedisNil(leaseErr) {
		return DeliveryStatus{}, leaseErr
	}
	st := DeliveryStatus{Sink: q.name, Known: len(h) > 0, InFlight: leaseErr == nil && h["tok"] != ""}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	at := func(k string) time.Time {
		if n := num(k); n > 0 {
			return time.UnixMilli(n).UTC()
		}
		return time.Time{}
	}
	st.DeliveredVersion, st.DeliveredAt = uint64(num("dv")), at("dt")
	st.PendingVersion = uint64(max(num("pv"), num("fv")))
	if h["fv"] != "" {
		st.Attempts = int(num("att"))
	}
	st.NextAttemptAt = at("na")
	switch {
	case h["gt"] == "":
	case st.PendingVersion == 0:
		st.GivenUpAt, st.Attempts = at("gt"), int(num("ga"))
	default:
		st.lastErrorOld = true // the pending update has not failed yet
	}
	if le := h["le"]; le != "" {
		var f DeliveryFailure
		if err := json.Unmarshal([]byte(le), &f); err != nil {
			return DeliveryStatus{}, errors.New("outbox: unreadable last error in the delivery state")
		}
		st.LastError = &f
	}
	return st, nil
}

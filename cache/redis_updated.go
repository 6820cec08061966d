package cache

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
)

// updatedKey names tag's index of sessions by last write: P + "u:" + tag,
// a ZSET of ids scored by the time of their last write (server time, ms),
// which every write keeps (casScript) and trims to one TTL. A replay
// reads it instead of scanning the keyspace.
func (r *Redis) updatedKey(tag string) string { return r.cfg.Prefix + "u:" + tag }

// UpdatedSince implements Store.UpdatedSince from the per-tag indexes, tag
// by tag, each oldest write first. The cursor is "<tag>:<ms>:<id>", the
// last id listed.
func (r *Redis) UpdatedSince(ctx context.Context, since, until time.Time, cursor string, n int) ([]Updated, string, error) {
	if r.closed.Load() {
		return nil, "", ErrClosed
	}
	tag, ms, last, err := parseUpdatedCursor(cursor, since.UnixMilli())
	if err != nil {
		return nil, "", err
	}
	n = max(1, n)
	var out []Updated
	for tag < keyShards {
		want := n - len(out)
		if want <= 0 {
			return out, formatUpdatedCursor(tag, ms, last), nil
		}
		page, err := r.updatedPage(ctx, keytag.Tag(tag), ms, until.UnixMilli(), last, want)
		if err != nil {
			return out, formatUpdatedCursor(tag, ms, last), r.fail("reading the sessions by last write", err)
		}
		for _, e := range page {
			ms, last = int64(e.Score), e.Member
			out = append(out, Updated{ID: e.Member, Cursor: formatUpdatedCursor(tag, ms, last)})
		}
		if len(page) < want { // the tag is done
			tag, ms, last = tag+1, since.UnixMilli(), ""
		}
	}
	return out, "", nil
}

// updatedPage reads up to n entries of tag's index after (ms, last), up
// to until: scored from ms on, past last among those scored ms.
func (r *Redis) updatedPage(ctx context.Context, tag string, ms, until int64, last string, n int) ([]rueidis.ZScore, error) {
	for extra := 0; ; extra = extra*2 + 16 {
		cmd := r.c.B().Zrange().Key(r.updatedKey(tag)).Min(strconv.FormatInt(ms, 10)).Max(strconv.FormatInt(until, 10)).Byscore().
			Limit(0, int64(n+extra)).Withscores().Build()
		all, err := r.do(ctx, cmd).AsZScores()
		if err != nil {
			return nil, err
		}
		out := all[:0]
		for _, e := range all {
			// Ties are ordered by id: those up to last were listed.
			if last != "" && int64(e.Score) == ms && e.Member <= last {
				continue
			}
			out = append(out, e)
		}
		if len(out) > 0 || len(all) < n+extra {
			return out[:min(len(out), n)], nil
		}
		// A page of ties all listed already: look further.
	}
}

func parseUpdatedCursor(c string, since int64) (tag int, ms int64, last string, err error) {
	if c == "" {
		return 0, since, "", nil
	}
	parts := strings.SplitN(c, ":", 3)
	if len(parts) != 3 {
		return 0, 0, "", fmt.Errorf("redis: bad replay cursor %q", c)
	}
	tag, err1 := strconv.Atoi(parts[0])
	ms, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || tag < 0 || tag > keyShards {
		return 0, 0, "", fmt.Errorf("redis: bad replay cursor %q", c)
	}
	return tag, max(ms, since), parts[2], nil
}

func formatUpdatedCursor(tag int, ms int64, last string) string {
	return strconv.Itoa(tag) + ":" + strconv.FormatInt(ms, 10) + ":" + last
}

package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiontap/caddy-sessiontap/internal/keytag"
)

// Timing of a Stream's Redis calls.
const (
	streamBlock   = time.Second     // an XREAD waits this long for news
	streamTimeout = 5 * time.Second // any call gives up after this
	streamBackoff = time.Second     // wait after a failed call
	publishBuffer = 1024            // events waiting to be written
	writeBatch    = 128             // events written in one round trip
)

// clusterShards is how many streams a feed is split into on a Redis
// Cluster, each under a hash tag of its own, so that no one slot carries
// every change of a fleet.
const clusterShards = 8

// Stream is a Feed shared by a fleet through a Redis Stream capped at
// about Size entries (XADD MAXLEN ~): every node writes its changes there
// and reads everyone's back into a local Ring, which Recent and
// Subscribe serve. Writing and reading run in goroutines of their own, so
// a slow or absent Redis never holds up Publish. On a Redis Cluster the
// stream is split into shards by session, each read by a goroutine of its
// own: a session's events stay in order, and the ring interleaves the
// shards as their events arrive.
type Stream struct {
	client  rueidis.Client
	keys    []string // one per shard
	size    int      // per shard
	ring    *Ring
	queue   chan Event
	dropped atomic.Uint64
	onError func(op string)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewStream starts a feed on the stream at key (on a cluster, the streams
// key + ":" + a hash tag), keeping about size events (DefaultSize if size
// <= 0). onError, when set, is told of each failed Redis call ("write" or
// "read"); the feed keeps trying. The client is the caller's and stays
// open after Close.
func NewStream(client rueidis.Client, key string, size int, onError func(op string)) *Stream {
	if size <= 0 {
		size = DefaultSize
	}
	if onError == nil {
		onError = func(string) {}
	}
	keys := []string{key}
	if client.Mode() == rueidis.ClientModeCluster {
		keys = keys[:0]
		for i := range clusterShards {
			keys = append(keys, key+":"+keytag.Tag(i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stream{client: client, keys: keys, size: max(1, size/len(keys)), ring: NewRing(size),
		queue: make(chan Event, publishBuffer), onError: onError, ctx: ctx, cancel: cancel}
	s.wg.Add(2)
	go s.write()
	go s.read()
	return s
}

// Publish implements Feed: the event is written to Redis in the
// background, and reaches this node's subscribers when read back.
func (s *Stream) Publish(e Event) {
	select {
	case s.queue <- e:
	default:
		s.dropped.Add(1)
	}
}

// Recent implements Feed, from what this node has read of the stream.
func (s *Stream) Recent(ctx context.Context, n int) ([]Event, error) { return s.ring.Recent(ctx, n) }

// Subscribe implements Feed.
func (s *Stream) Subscribe() (<-chan Event, func()) { return s.ring.Subscribe() }

// Dropped implements Feed.
func (s *Stream) Dropped() uint64 { return s.dropped.Load() + s.ring.Dropped() }

// Close implements Feed: it stops writing (events not yet written are
// dropped) and reading.
func (s *Stream) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Stream) write() {
	defer s.wg.Done()
	batch := make(rueidis.Commands, 0, writeBatch)
	for {
		select {
		case <-s.ctx.Done():
			return
		case e := <-s.queue:
			batch = append(batch[:0], s.xadd(e))
		}
		for len(batch) < writeBatch && len(s.queue) > 0 {
			batch = append(batch, s.xadd(<-s.queue))
		}
		ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
		for _, r := range s.client.DoMulti(ctx, batch...) {
			if r.Error() != nil {
				s.dropped.Add(1)
				s.onError("write")
			}
		}
		cancel()
	}
}

// keyOf is the stream that carries session id's events.
func (s *Stream) keyOf(id string) string { return s.keys[keytag.Of(id)%len(s.keys)] }

func (s *Stream) xadd(e Event) rueidis.Completed {
	b, _ := json.Marshal(e) // an Event always marshals
	return s.client.B().Xadd().Key(s.keyOf(e.SessionID)).Maxlen().Almost().Threshold(strconv.Itoa(s.size)).
		Id("*").FieldValue().FieldValue("e", string(b)).Build()
}

// read fills the ring with the streams' newest entries, then follows
// each stream in a goroutine of its own.
func (s *Stream) read() {
	defer s.wg.Done()
	var lasts []string
	for s.ctx.Err() == nil {
		var err error
		if lasts, err = s.backfill(); err == nil {
			break
		}
		if s.ctx.Err() == nil {
			s.onError("read")
			s.sleep(streamBackoff)
		}
	}
	var followers sync.WaitGroup
	for i, key := range s.keys {
		if lasts == nil {
			break // closed
		}
		followers.Go(func() { s.follow(key, lasts[i]) })
	}
	followers.Wait()
}

// backfill publishes the streams' newest entries to the ring, oldest
// first, and returns the id to follow each stream from.
func (s *Stream) backfill() ([]string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
	defer cancel()
	cmds := make(rueidis.Commands, len(s.keys))
	for i, key := range s.keys {
		cmds[i] = s.client.B().Xrevrange().Key(key).End("+").Start("-").Count(int64(s.size)).Build()
	}
	lasts := make([]string, len(s.keys))
	var all []rueidis.XRangeEntry
	for i, res := range s.client.DoMulti(ctx, cmds...) {
		entries, err := res.AsXRange()
		if err != nil {
			return nil, err
		}
		lasts[i] = "0-0"
		if len(entries) > 0 {
			lasts[i] = entries[0].ID // the newest: XREVRANGE
		}
		all = append(all, entries...)
	}
	slices.SortStableFunc(all, func(a, b rueidis.XRangeEntry) int { return compareIDs(a.ID, b.ID) })
	s.publish(all)
	return lasts, nil
}

// follow publishes what is added to the stream at key after last, until
// the feed closes.
func (s *Stream) follow(key, last string) {
	for s.ctx.Err() == nil {
		var err error
		if last, err = s.followOnce(key, last); err != nil && s.ctx.Err() == nil {
			s.onError("read")
			s.sleep(streamBackoff)
		}
	}
}

func (s *Stream) followOnce(key, last string) (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
	defer cancel()
	cmd := s.client.B().Xread().Count(writeBatch).Block(streamBlock.Milliseconds()).Streams().Key(key).Id(last).Build()
	res, err := s.client.Do(ctx, cmd).AsXRead()
	if rueidis.IsRedisNil(err) {
		return last, nil // nothing new within the block
	}
	if err != nil {
		return last, err
	}
	entries := res[key]
	s.publish(entries)
	if len(entries) > 0 {
		last = entries[len(entries)-1].ID
	}
	return last, nil
}

// compareIDs orders stream entry ids ("ms-seq") by time, then sequence.
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	an, _ := strconv.ParseUint(am, 10, 64)
	bn, _ := strconv.ParseUint(bm, 10, 64)
	if c := cmp.Compare(an, bn); c != 0 {
		return c
	}
	x, _ := strconv.ParseUint(as, 10, 64)
	y, _ := strconv.ParseUint(bs, 10, 64)
	return cmp.Compare(x, y)
}

func (s *Stream) publish(entries []rueidis.XRangeEntry) {
	for _, en := range entries {
		var e Event
		if json.Unmarshal([]byte(en.FieldValues["e"]), &e) != nil {
			continue
		}
		if e.Kind == KindForget {
			s.ring.forget(e.SessionID)
			continue
		}
		s.ring.Publish(e)
	}
}

// Forget implements Feed: the session's entries are deleted from the
// stream, and a forget entry tells every node (this one too) to drop them
// from its ring. It waits for Redis, bounded by ctx.
func (s *Stream) Forget(ctx context.Context, sessionID string) error {
	s.ring.forget(sessionID)
	key := s.keyOf(sessionID)
	entries, err := s.client.Do(ctx, s.client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		return err
	}
	var ids []string
	for _, en := range entries {
		var e Event
		if json.Unmarshal([]byte(en.FieldValues["e"]), &e) == nil && e.SessionID == sessionID {
			ids = append(ids, en.ID)
		}
	}
	cmds := rueidis.Commands{s.xadd(Event{Kind: KindForget, SessionID: sessionID, At: time.Now().UTC()})}
	if len(ids) > 0 {
		cmds = append(cmds, s.client.B().Xdel().Key(key).Id(ids...).Build())
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
	}
}

var _ Feed = (*Stream)(nil)

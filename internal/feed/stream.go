package feed

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Timing of a Stream's Redis calls.
const (
	streamBlock   = time.Second     // an XREAD waits this long for news
	streamTimeout = 5 * time.Second // any call gives up after this
	streamBackoff = time.Second     // wait after a failed call
	publishBuffer = 1024            // events waiting to be written
	writeBatch    = 128             // events written in one round trip
)

// Stream is a Feed shared by a fleet through a Redis Stream capped at
// about Size entries (XADD MAXLEN ~): every node writes its changes there
// and reads everyone's back into a local Ring, which Recent and
// Subscribe serve. Writing and reading run in goroutines of their own, so
// a slow or absent Redis never holds up Publish.
type Stream struct {
	client  rueidis.Client
	key     string
	size    int
	ring    *Ring
	queue   chan Event
	dropped atomic.Uint64
	onError func(op string)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewStream starts a feed on the stream at key, keeping about size
// events (DefaultSize if size <= 0). onError, when set, is told of each
// failed Redis call ("write" or "read"); the feed keeps trying. The
// client is the caller's and stays open after Close.
func NewStream(client rueidis.Client, key string, size int, onError func(op string)) *Stream {
	if size <= 0 {
		size = DefaultSize
	}
	if onError == nil {
		onError = func(string) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stream{client: client, key: key, size: size, ring: NewRing(size), queue: make(chan Event, publishBuffer),
		onError: onError, ctx: ctx, cancel: cancel}
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

func (s *Stream) xadd(e Event) rueidis.Completed {
	b, _ := json.Marshal(e) // an Event always marshals
	return s.client.B().Xadd().Key(s.key).Maxlen().Almost().Threshold(strconv.Itoa(s.size)).
		Id("*").FieldValue().FieldValue("e", string(b)).Build()
}

// read fills the ring with the stream's newest entries, then follows it.
func (s *Stream) read() {
	defer s.wg.Done()
	last := ""
	for s.ctx.Err() == nil {
		var err error
		if last == "" {
			last, err = s.backfill()
		} else {
			last, err = s.follow(last)
		}
		if err != nil && s.ctx.Err() == nil {
			s.onError("read")
			s.sleep(streamBackoff)
		}
	}
}

// backfill publishes the newest entries to the ring and returns the id
// to follow the stream from.
func (s *Stream) backfill() (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
	defer cancel()
	entries, err := s.client.Do(ctx, s.client.B().Xrevrange().Key(s.key).End("+").Start("-").Count(int64(s.size)).Build()).AsXRange()
	if err != nil {
		return "", err
	}
	slices.Reverse(entries)
	s.publish(entries)
	if len(entries) == 0 {
		return "0-0", nil
	}
	return entries[len(entries)-1].ID, nil
}

func (s *Stream) follow(last string) (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
	defer cancel()
	cmd := s.client.B().Xread().Count(writeBatch).Block(streamBlock.Milliseconds()).Streams().Key(s.key).Id(last).Build()
	res, err := s.client.Do(ctx, cmd).AsXRead()
	if rueidis.IsRedisNil(err) {
		return last, nil // nothing new within the block
	}
	if err != nil {
		return last, err
	}
	entries := res[s.key]
	s.publish(entries)
	if len(entries) > 0 {
		last = entries[len(entries)-1].ID
	}
	return last, nil
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
	entries, err := s.client.Do(ctx, s.client.B().Xrange().Key(s.key).Start("-").End("+").Build()).AsXRange()
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
		cmds = append(cmds, s.client.B().Xdel().Key(s.key).Id(ids...).Build())
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

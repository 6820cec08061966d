package delivery

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultLogInterval is how often a sink logs its give-ups and drops.
const DefaultLogInterval = 10 * time.Second

// summary gathers a sink's given-up updates and dropped ones and logs them
// as one line per interval, with counts and one example: during an outage
// every session gives up, and a line each flooded the log (~2,500 lines
// in 40 s). The first event of a quiet sink starts the interval.
type summary struct {
	sink      string
	queueSize int
	log       *zap.Logger
	interval  time.Duration

	mu       sync.Mutex
	failed   int
	dropped  int
	statuses map[int]int // failed updates by HTTP status, 0 for network errors
	example  []zap.Field // the first failure of the interval
	timer    *time.Timer
}

func newSummary(sink string, queueSize int, log *zap.Logger, interval time.Duration) *summary {
	return &summary{sink: sink, queueSize: queueSize, log: log, interval: interval}
}

// fail records a given-up update.
func (s *summary) fail(id string, attempts int, err error) {
	status, fields := failureFields(id, attempts, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
	if s.statuses == nil {
		s.statuses = map[int]int{}
	}
	s.statuses[status]++
	if s.example == nil {
		s.example = fields
	}
	s.arm()
}

// drop records n updates the full queue could not take.
func (s *summary) drop(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped += n
	s.arm()
}

func (s *summary) arm() {
	if s.timer == nil {
		s.timer = time.AfterFunc(s.interval, s.flush)
	}
}

// flush logs what was gathered since the last line, if anything.
func (s *summary) flush() {
	s.mu.Lock()
	failed, dropped, statuses, example := s.failed, s.dropped, s.statuses, s.example
	s.failed, s.dropped, s.statuses, s.example = 0, 0, nil, nil
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	if failed == 0 && dropped == 0 {
		return
	}
	fields := []zap.Field{zap.String("sink", s.sink), zap.Int("failed", failed), zap.Int("dropped", dropped)}
	if len(statuses) > 0 {
		byStatus := make(map[string]int, len(statuses))
		for st, n := range statuses {
			byStatus[strconv.Itoa(st)] = n
		}
		fields = append(fields, zap.Any("failed_by_status", byStatus), zap.Dict("example", example...))
	}
	if dropped > 0 {
		fields = append(fields, zap.Int("queue_size", s.queueSize))
	}
	s.log.Warn("upstream deliveries given up or dropped", fields...)
}

// failureFields describes a given-up update: session id, attempts, status
// and the upstream's (redacted) snippet, or the network error's cause; no
// other personal data.
func failureFields(id string, attempts int, err error) (status int, fields []zap.Field) {
	fields = []zap.Field{zap.String("session", id), zap.Int("attempts", attempts)}
	var de *DeliveryError
	if errors.As(err, &de) {
		status = de.Status
		fields = append(fields, zap.Int("status", de.Status), zap.String("snippet", de.Snippet))
		err = de.Err
	}
	if err != nil && status == 0 {
		fields = append(fields, zap.String("cause", errCause(err)))
	}
	return status, fields
}

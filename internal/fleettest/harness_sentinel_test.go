//go:build linux

package fleettest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MasterName is the name the test's sentinels know the primary by.
const MasterName = "fleettest"

// Sentinels is a primary, a replica and three sentinels watching them,
// each a redis-server of the test's own (a sentinel is redis-server
// --sentinel), stopped when the test ends.
type Sentinels struct {
	Primary, Replica *Redis
	Addrs            []string // the sentinels'
	sentinels        []*proc
}

// StartSentinels starts the set and waits until the sentinels know the
// replica and each other. down is the sentinels' down-after-milliseconds.
func StartSentinels(t testing.TB, down time.Duration) *Sentinels {
	t.Helper()
	s := &Sentinels{Primary: StartRedis(t)}
	s.Replica = StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.port))
	if !Poll(10*time.Second, func() bool { return infoField(s.Replica, "replication", "master_link_status") == "up" }) {
		t.Fatal("the replica never linked to the primary")
	}
	dir := t.TempDir()
	for i := range 3 {
		port := FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			port, MasterName, s.Primary.port, MasterName, down.Milliseconds(), MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(dir, fmt.Sprintf("sentinel-%d.log", i))
		p, err := startProc(log, os.Environ(), "redis-server", conf, "--sentinel")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("sentinel %d log, last lines:\n%s", i, tail(log, 10))
			}
			_ = p.stop(syscall.SIGTERM, 5*time.Second)
		})
		s.sentinels = append(s.sentinels, p)
		s.Addrs = append(s.Addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	if !Poll(20*time.Second, func() bool { return s.ready() }) {
		t.Fatal("the sentinels never saw the replica and each other")
	}
	return s
}

// ready: every sentinel knows the replica and the two other sentinels.
func (s *Sentinels) ready() bool {
	for _, a := range s.Addrs {
		st := &Redis{Addr: a}
		info, err := st.Do("INFO", "sentinel")
		if err != nil || !strings.Contains(info, "slaves=1,sentinels=3") {
			return false
		}
	}
	return true
}

// PrimaryAddr is the primary as the first sentinel that answers names it.
func (s *Sentinels) PrimaryAddr() string {
	for _, a := range s.Addrs {
		info, err := (&Redis{Addr: a}).Do("INFO", "sentinel")
		if err != nil {
			continue
		}
		if _, rest, ok := strings.Cut(info, "address="); ok {
			addr, _, _ := strings.Cut(rest, ",")
			return addr
		}
	}
	return ""
}

// infoField is one field of an INFO section, "" when unknown.
func infoField(r *Redis, section, name string) string {
	info, err := r.Do("INFO", section)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

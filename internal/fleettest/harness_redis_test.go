//go:build linux

package fleettest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server of the test's own, without persistence.
type Redis struct {
	Addr    string
	LogPath string
	t       testing.TB
	port    int
	p       *proc
	// args are more redis-server arguments (a replica's --replicaof).
	args []string
}

// StartRedis starts redis-server on a free loopback port, stopped when the
// test ends. Without redis-server on PATH the test is skipped, except
// under CI or scripts/test (CI or SESSIONTAP_REDIS_ADDR set): then it fails.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SESSIONTAP_REDIS_ADDR") != "" {
			t.Fatal("redis-server is not on PATH, and CI and scripts/test must run the fleet tests: install redis-server")
		}
		t.Skip("redis-server is not on PATH: run scripts/test (it installs it) or install redis-server")
	}
	r := &Redis{t: t, LogPath: filepath.Join(t.TempDir(), "redis.log"), args: args}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redis log, last lines:\n%s", tail(r.LogPath, 15))
		}
		keepLog(t, r.LogPath, "redis")
		if r.p != nil {
			_ = r.p.stop(syscall.SIGTERM, 5*time.Second)
		}
	})
	var err error
	for range 5 {
		r.port = FreePort(t)
		r.Addr = "127.0.0.1:" + strconv.Itoa(r.port)
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("redis-server: %v\n%s", err, tail(r.LogPath, 15))
	return nil
}

// Start runs redis-server again on the same port (after Kill), empty.
func (r *Redis) Start() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("redis-server: %v\n%s", err, tail(r.LogPath, 15))
	}
}

func (r *Redis) start() error {
	p, err := startProc(r.LogPath, os.Environ(), "redis-server", append([]string{"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		// A replica's full sync writes an RDB file: in the test's directory.
		"--dir", filepath.Dir(r.LogPath)}, r.args...)...)
	if err != nil {
		return err
	}
	r.p = p
	for range 200 {
		// Still alive after the PONG: the answer was ours.
		if r.Ping(200*time.Millisecond) == nil && p.running() {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("redis-server exited: %v", p.err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	_ = p.stop(syscall.SIGKILL, time.Second)
	return errors.New("redis-server did not answer PING")
}

// Ping sends PING and wants +PONG within timeout.
func (r *Redis) Ping(timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", r.Addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf)
	}
	return nil
}

// Do runs one command on a fresh connection and returns a simple, integer
// or bulk reply as text (arrays are not read). Errors replies are errors.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var cmd strings.Builder
	fmt.Fprintf(&cmd, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&cmd, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, cmd.String()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("empty reply")
	case line[0] == '+' || line[0] == ':':
		return line[1:], nil
	case line[0] == '-':
		return "", errors.New(line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(rd, buf)
		return string(buf[:n]), err
	}
	return "", fmt.Errorf("unread reply %q", line)
}

// Stat is a counter from INFO: Stat("commandstats", "cmdstat_evalsha",
// "calls"), or Stat("stats", "total_commands_processed", "").
func (r *Redis) Stat(section, name, field string) (int64, error) {
	info, err := r.Do("INFO", section)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || k != name {
			continue
		}
		if field == "" {
			return strconv.ParseInt(v, 10, 64)
		}
		for kv := range strings.SplitSeq(v, ",") {
			if f, val, _ := strings.Cut(kv, "="); f == field {
				return strconv.ParseInt(val, 10, 64)
			}
		}
	}
	return 0, nil // never counted
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing is
// answered. Resume (SIGCONT) thaws it. Kill is kill -9.
func (r *Redis) Pause()  { r.p.signal(syscall.SIGSTOP) }
func (r *Redis) Resume() { r.p.signal(syscall.SIGCONT) }
func (r *Redis) Kill()   { _ = r.p.stop(syscall.SIGKILL, 5*time.Second) }

//go:build linux

// Package fleettest runs several real Caddy processes with sessiontap in
// front of one shop, sharing one redis-server of the tests' own, and checks
// what a fleet must guarantee: no lost writes across nodes, one view of a
// session from every node, GDPR erasure everywhere at once, pages that keep
// flowing while Redis does not answer, and deliveries to Talon.One and a
// webhook that reach them in order across kill -9, SIGTERM and reload.
//
// The harness (this file, harness_redis_test.go, shop_test.go, upstreams_test.go):
//
//	StartFleet(t, n, tweak)   a redis-server, a shop and n nodes; tweak edits each NodeConfig
//	StartRedis(t)             a redis-server of our own; Pause/Resume (SIGSTOP/SIGCONT), Kill, Start, Do, Stat
//	StartNode(t, cfg)         `caddy run --config` of a Caddyfile written from cfg
//	(*Node).Stop/Kill/Start/Reload/Running/Log/Tail   SIGTERM, kill -9, start again, `caddy reload`
//	(*Node).Do, API, Session  requests to a node, the operator API, one session decoded
//	(*Fleet).AddNode(t)       one more node configured as the others (one taking over, say)
//	StartShop(t)              the shop upstream (see shop_test.go)
//	StartUpstreams(t)         a fake Talon.One and a webhook receiver that record every
//	                          delivery (see upstreams_test.go); Deliver(settings) is the tweak
//	FreePort(t)               a loopback port that was free a moment ago
//
// Ports are picked free and a child that fails to bind is started again on
// new ones. Every child is in its own process group and gets SIGKILL when the
// test binary dies; cleanups stop them by PID. On failure each node's and
// Redis's log tail is printed; FLEETTEST_LOGS=<dir> keeps the whole logs.
package fleettest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// APIKey is every node's operator API key; IndexKey keys the customer index.
const (
	APIKey    = "fleettest-operator-key"
	IndexKey  = "fleettest-index-key-0123456789abcdef"
	APIPrefix = "/_sessiontap/api"
	Collect   = "/_sessiontap/collect"
)

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "fleettest-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// CaddyBinary builds ./cmd/caddy once per test binary (without -race: it
// is the product under test, not the test) and returns its path.
func CaddyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		caddyBin = filepath.Join(binDir, "caddy")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
			return
		}
		t.Logf("built ./cmd/caddy in %s", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", errors.New("no go.mod above the test's directory")
		}
	}
}

// FreePort returns a loopback TCP port that was free when asked. Another
// process may take it before the caller binds it: starters retry.
func FreePort(t testing.TB) int {
	t.Helper()
	var err error
	for range 20 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			return port
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no free port: %v", err)
	return 0
}

// proc is a child process in its own process group, its output in a file.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

func startProc(log string, env []string, name string, args ...string) (*proc, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "==== %s %s\n", time.Now().Format(time.TimeOnly), strings.Join(append([]string{filepath.Base(name)}, args...), " "))
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// stop sends sig and waits up to grace for the exit, then kills.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if !p.running() {
		return p.err
	}
	p.signal(syscall.SIGCONT) // a stopped process cannot act on SIGTERM
	p.signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("pid %d still running %s after %s: killed", p.cmd.Process.Pid, grace, sig)
	}
}

// keepLog copies a log to $FLEETTEST_LOGS/<test>.<name>.log, when that
// variable names a directory: the temporary one goes with the test.
func keepLog(t testing.TB, path, name string) {
	dir := os.Getenv("FLEETTEST_LOGS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"."+name+".log"), b, 0o644)
	}
	if err != nil {
		t.Logf("keeping %s: %v", name, err)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// NodeConfig is what a node's Caddyfile is written from.
type NodeConfig struct {
	Name  string // names the log file
	Redis string // host:port
	// Sentinels, when set, are the sentinels' addresses (space
	// separated) watching MasterName; Redis is then unused.
	Sentinels string
	// Cluster, when set, are a Redis Cluster's node addresses (space
	// separated); Redis is then unused.
	Cluster  string
	Upstream string // the shop's host:port
	Prefix   string // Redis key prefix, the same for the fleet
	Timeout  string // the store's per-command timeout; empty: the product's default
	Extra    string // more sessiontap subdirectives
	Site     string // more site directives (e.g. `header >X-Cart {sessiontap.cart.count}`)
	API      string // more api options (e.g. `inspector`)
}

// Node is one `caddy run` process serving the shop at URL and the
// operators' site (sessiontap_api) at Ops.
type Node struct {
	Name, URL, Admin string // Admin is the admin endpoint's host:port
	Ops              string
	Config, LogPath  string
	Cfg              NodeConfig
	t                testing.TB
	dir              string
	port, adminPort  int
	opsPort          int
	p                *proc
}

// Caddyfile is the node's configuration as written to n.Config.
func (n *Node) Caddyfile() string {
	c := n.Cfg
	opt := func(indent, s string) string { // an optional line, left out when empty
		if s == "" {
			return ""
		}
		return indent + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+indent) + "\n"
	}
	timeout := ""
	if c.Timeout != "" {
		timeout = "timeout " + c.Timeout
	}
	server := "address " + c.Redis
	if c.Sentinels != "" {
		server = "sentinel " + c.Sentinels + "\n\t\t\tmaster_name " + MasterName
	}
	if c.Cluster != "" {
		server = "cluster " + c.Cluster
	}
	store := fmt.Sprintf("\t\tstore redis {\n\t\t\t%s\n\t\t\tprefix %s\n\t\t\tindex_key %s\n%s\t\t}\n",
		server, c.Prefix, IndexKey, opt("\t\t\t", timeout))
	return fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tgrace_period 2s\n}\n\n"+
		"http://:%d {\n%s\tsessiontap {\n%s"+
		"\t\tcapture json shopify\n"+
		// Every visitor of these tests comes from 127.0.0.1: the per-client
		// limits (tested in caddymodule) would refuse the fleet's load.
		"\t\tlimits {\n\t\t\tnew_sessions off\n\t\t\tcollect off\n\t\t}\n%s\t}\n\treverse_proxy %s\n}\n\n"+
		"http://:%d {\n\tsessiontap_api %s {\n%s\t\tkey %s\n%s\t}\n}\n",
		n.adminPort, n.port, opt("\t", c.Site), store, opt("\t\t", c.Extra), c.Upstream,
		n.opsPort, APIPrefix, store, APIKey, opt("\t\t", c.API))
}

// StartNode writes a Caddyfile from cfg and runs Caddy on it until it
// answers; it is stopped (SIGTERM) when the test ends.
func StartNode(t testing.TB, cfg NodeConfig) *Node {
	t.Helper()
	dir := t.TempDir()
	n := &Node{Name: cfg.Name, Cfg: cfg, t: t, dir: dir,
		Config: filepath.Join(dir, "Caddyfile"), LogPath: filepath.Join(dir, cfg.Name+".log")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %s log, last lines:\n%s", n.Name, n.Tail(30))
		}
		keepLog(t, n.LogPath, "node-"+n.Name)
		if n.p != nil {
			_ = n.p.stop(syscall.SIGTERM, 5*time.Second)
		}
	})
	var err error
	for range 3 { // new ports when another process took ours
		n.port, n.adminPort, n.opsPort = FreePort(t), FreePort(t), FreePort(t)
		n.URL, n.Admin = fmt.Sprintf("http://127.0.0.1:%d", n.port), fmt.Sprintf("127.0.0.1:%d", n.adminPort)
		n.Ops = fmt.Sprintf("http://127.0.0.1:%d", n.opsPort)
		if err = n.start(); err == nil {
			return n
		}
	}
	t.Fatalf("node %s: %v\n%s", n.Name, err, n.Tail(30))
	return nil
}

// Start runs the node again on its ports and config (after Stop or Kill).
func (n *Node) Start() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatalf("node %s: %v\n%s", n.Name, err, n.Tail(30))
	}
}

func (n *Node) start() error {
	if err := os.WriteFile(n.Config, []byte(n.Caddyfile()), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "XDG_CONFIG_HOME="+n.dir, "XDG_DATA_HOME="+n.dir, "HOME="+n.dir)
	p, err := startProc(n.LogPath, env, CaddyBinary(n.t), "run", "--config", n.Config, "--adapter", "caddyfile")
	if err != nil {
		return err
	}
	n.p = p
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// 401 is sessiontap's own answer: this Caddy is up, with our config.
		if res, _, err := n.do(n.Ops, "GET", APIPrefix+"/sessions/ready", nil); err == nil && res.StatusCode == 401 && p.running() {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("caddy exited before answering: %v", p.err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.stop(syscall.SIGKILL, time.Second)
	return errors.New("caddy did not answer within 20s")
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool { return n.p != nil && n.p.running() }

// Stop sends SIGTERM and waits for the exit (Caddy's graceful stop).
func (n *Node) Stop() error { return n.p.stop(syscall.SIGTERM, 10*time.Second) }

// Kill is kill -9: no cleanup, no flush, no goodbye.
func (n *Node) Kill() { _ = n.p.stop(syscall.SIGKILL, 5*time.Second) }

// Reload rewrites the Caddyfile from n.Cfg (edit it first) and runs
// `caddy reload --force` against the node's admin endpoint.
func (n *Node) Reload() error {
	if err := os.WriteFile(n.Config, []byte(n.Caddyfile()), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(CaddyBinary(n.t), "reload", "--config", n.Config, "--adapter", "caddyfile",
		"--address", n.Admin, "--force").CombinedOutput()
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	return nil
}

// Log is everything the node wrote to stderr and stdout; Tail its end.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath)
	return string(b)
}

func (n *Node) Tail(lines int) string { return tail(n.LogPath, lines) }

var client = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Do sends a request to the node; header is name, value pairs. It does not
// fail the test (safe in goroutines): the body is read whole.
func (n *Node) Do(method, path string, body []byte, header ...string) (*http.Response, []byte, error) {
	return n.do(n.URL, method, path, body, header...)
}

// do is Do against base, the shop's site or the operators'.
func (n *Node) do(base, method, path string, body []byte, header ...string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// API calls the operator API (path below the prefix) with the key.
func (n *Node) API(t testing.TB, method, path string) (int, []byte) {
	t.Helper()
	return n.APIBody(t, method, path, nil)
}

// APIBody is API with a request body.
func (n *Node) APIBody(t testing.TB, method, path string, body []byte) (int, []byte) {
	t.Helper()
	res, b, err := n.do(n.Ops, method, APIPrefix+path, body, "Authorization", "Bearer "+APIKey, "Content-Type", "application/json")
	if err != nil {
		t.Fatalf("node %s: %s %s: %v", n.Name, method, path, err)
	}
	return res.StatusCode, b
}

// Fleet is a Redis, a shop and the nodes in front of it sharing that Redis.
type Fleet struct {
	Redis *Redis
	Shop  *Shop
	Nodes []*Node
	tweak func(*NodeConfig)
}

// StartFleet starts a redis-server, the shop and n nodes ("a", "b", …).
// tweak, when not nil, edits each node's config before it starts.
func StartFleet(t testing.TB, n int, tweak func(*NodeConfig)) *Fleet {
	t.Helper()
	CaddyBinary(t) // build before the clock of anything else starts
	f := &Fleet{Redis: StartRedis(t), Shop: StartShop(t), tweak: tweak}
	for range n {
		f.AddNode(t)
	}
	return f
}

// AddNode starts one more node, named after the last, configured as the
// others (a node that takes over from one killed, say).
func (f *Fleet) AddNode(t testing.TB) *Node {
	t.Helper()
	cfg := NodeConfig{Name: string(rune('a' + len(f.Nodes))), Redis: f.Redis.Addr, Upstream: f.Shop.HostPort(),
		Prefix: "fleettest:"}
	if f.tweak != nil {
		f.tweak(&cfg)
	}
	n := StartNode(t, cfg)
	f.Nodes = append(f.Nodes, n)
	return n
}

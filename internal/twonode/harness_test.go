// Package twonode tests fleet mode as it runs: two real Caddy processes
// built from cmd/caddy, a redis-server of the tests' own, a fake Talon.One
// that validates every request against its OpenAPI document and a webhook
// receiver that records order, concurrency and event ids.
package twonode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// caddyBin is the Caddy built from cmd/caddy for this test binary.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessiontap-twonode")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "github.com/sessiontap/caddy-sessiontap/cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort is a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServer is a redis-server of the test's own, so that a test may
// stop it; persistence off.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SESSIONTAP_REDIS_ADDR") != "" {
			t.Fatal("redis-server is not on PATH; scripts/test installs it")
		}
		t.Skip("redis-server is not on PATH: run scripts/test, which installs it")
	}
	for try := 0; try < 5; try++ {
		port := freePort(t)
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
		if waitTCP(r.addr, 5*time.Second) {
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			return r
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Fatal("could not start redis-server")
	return nil
}

// pause stops the server (SIGSTOP): it holds its connections and answers
// nothing, the hardest outage for a client; resume continues it.
func (r *redisServer) pause(t *testing.T)  { signal(t, r.cmd, syscall.SIGSTOP) }
func (r *redisServer) resume(t *testing.T) { signal(t, r.cmd, syscall.SIGCONT) }

func signal(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func waitTCP(addr string, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// node is one Caddy process.
type node struct {
	t      *testing.T
	name   string
	port   int
	admin  int
	config string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// nodeConfig is what a node's Caddyfile is made of.
type nodeConfig struct {
	redis, talon, webhook, shop string
	delivery                    string // the delivery block's body
}

func (c nodeConfig) caddyfile(port, admin int) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	grace_period 1s
}

http://127.0.0.1:%d {
	sessiontap {
		store redis {
			address %s
			index_key twonode-index-key-0123456789
			timeout 200ms
		}
		hmac_key twonode-hmac-key
		api /_sessiontap/api {
			key test-key
		}
		forward talonone %s {
			api_key talon-key
		}
		forward webhook %s {
			secret whsec
		}
		delivery {
%s
		}
	}
	reverse_proxy %s
}
`, admin, port, c.redis, c.talon, c.webhook, c.delivery, c.shop)
}

// startNode writes the node's Caddyfile and starts it.
func startNode(t *testing.T, name string, cfg nodeConfig) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, name: name, port: freePort(t), admin: freePort(t),
		config: filepath.Join(dir, "Caddyfile"), log: filepath.Join(dir, "caddy.log")}
	n.write(cfg)
	n.start()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s's log, last lines:\n%s", n.name, tail(n.log, 30))
		}
	})
	return n
}

func (n *node) write(cfg nodeConfig) {
	if err := os.WriteFile(n.config, []byte(cfg.caddyfile(n.port, n.admin)), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) start() {
	n.t.Helper()
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	n.cmd = exec.Command(caddyBin, "run", "--config", n.config, "--adapter", "caddyfile")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(n.config), "XDG_DATA_HOME="+filepath.Dir(n.config))
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); logf.Close(); close(n.exited) }()
	if !waitTCP(fmt.Sprintf("127.0.0.1:%d", n.port), 15*time.Second) {
		n.t.Fatalf("%s did not start; log:\n%s", n.name, tail(n.log, 30))
	}
}

// kill is kill -9: no cleanup, no handing back.
func (n *node) kill() {
	if n.cmd != nil && n.cmd.ProcessState == nil {
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

// terminate sends SIGTERM and waits for the process to exit.
func (n *node) terminate(within time.Duration) {
	n.t.Helper()
	syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(within):
		n.t.Fatalf("%s did not exit within %s of SIGTERM", n.name, within)
	}
}

// reload applies cfg with `caddy reload`, as an operator would.
func (n *node) reload(cfg nodeConfig) {
	n.t.Helper()
	n.write(cfg)
	out, err := exec.Command(caddyBin, "reload", "--config", n.config, "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", n.admin)).CombinedOutput()
	if err != nil {
		n.t.Fatalf("caddy reload: %v\n%s", err, out)
	}
}

func (n *node) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", n.port, path) }

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// visitor is a browser: one cookie jar, any node.
type visitor struct {
	t      *testing.T
	client *http.Client
}

func newVisitor(t *testing.T) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// collect posts body to n's collect endpoint and returns the status and
// answer.
func (v *visitor) collect(n *node, body string) (int, string) {
	v.t.Helper()
	res, err := v.client.Post(n.url("/_sessiontap/collect"), "application/json", strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// api calls n's operator API.
func api(t *testing.T, n *node, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, n.url("/_sessiontap/api"+path), bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer test-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// eventually polls cond until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

// get loads path from n as a browser loads a page (so that sessiontap
// records the view: a store write).
func (v *visitor) get(t *testing.T, n *node, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.url(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Dest", "document")
	res, err := v.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

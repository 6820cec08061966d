//go:build linux

// Package browsertest drives the inspector in a real browser: headless
// Chromium (Debian's chromium; scripts/test installs it) through chromedp,
// against a real Caddy built from ./cmd/caddy serving the demo shop with
// sessiontap in front, and a webhook receiver that checks every delivery's
// signature. Screenshots of the main views go to the test's artifact
// directory (go test -artifacts); SESSIONTAP_SCREENSHOT=<file> also writes
// the README's picture of the inspector there.
package browsertest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	signature "github.com/sessiontap/caddy-sessiontap/webhook"
)

const (
	apiKey        = "demo-key" // Caddyfile.example's
	webhookSecret = "browsertest-webhook-secret"
	apiPrefix     = "/_sessiontap/api"
	// inspectorSecret signs the demo's inspector sign-ins in these tests.
	inspectorSecret = "browsertest-inspector-secret-0123"
)

// moduleRoot is the repository root, where demo/shop is.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatal("no go.mod above the test's directory")
		}
	}
}

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
)

// caddyBinary builds ./cmd/caddy once (without -race: it is the product).
func caddyBinary(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "browsertest-")
		if err != nil {
			buildErr = err
			return
		}
		caddyBin = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// webhook is a receiver that checks each delivery's signature and shape,
// and answers 500 while failing is set.
type webhook struct {
	*httptest.Server
	failing   atomic.Bool
	delivered atomic.Int32
	mu        sync.Mutex
	problems  []string
}

func startWebhook(t *testing.T) *webhook {
	wh := &webhook{}
	wh.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.check(r, body); err != nil {
			wh.mu.Lock()
			wh.problems = append(wh.problems, err.Error())
			wh.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if wh.failing.Load() {
			http.Error(w, "upstream is down for the test", http.StatusInternalServerError)
			return
		}
		wh.delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		wh.Close()
		wh.mu.Lock()
		defer wh.mu.Unlock()
		for _, p := range wh.problems {
			t.Errorf("webhook receiver: %s", p)
		}
	})
	return wh
}

func (wh *webhook) check(r *http.Request, body []byte) error {
	if err := signature.Verify(webhookSecret, r.Header.Get(signature.SignatureHeader), body, time.Now(), 0); err != nil {
		return err
	}
	var p struct {
		EventID   string `json:"event_id"`
		SessionID string `json:"session_id"`
		Version   uint64 `json:"version"`
		Cart      struct {
			Items []json.RawMessage `json:"items"`
		} `json:"cart"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return err
	}
	if p.EventID == "" || p.SessionID == "" || p.Version == 0 || p.Cart.Items == nil {
		return errors.New("a delivery without event_id, session_id, version or cart items: " + string(body))
	}
	return nil
}

// shop is the README's demo (Caddyfile.example): a Caddy serving the demo
// shop on one port with sessiontap in front of it on another, here also
// delivering to the webhook.
type shop struct {
	URL     string // sessiontap's site
	Ops     string // the operators' site: the API and the inspector
	log     string
	cmd     *exec.Cmd
	exited  chan struct{}
	adminAt string
}

func startShop(t *testing.T, webhookURL string) *shop { return startShopWith(t, webhookURL, "") }

// startShopWith starts the demo with store, when not empty, in place of
// its bigcache store block.
func startShopWith(t *testing.T, webhookURL, store string) *shop {
	return startShopEdited(t, webhookURL, store, nil)
}

// startShopEdited starts the demo with edit, when not nil, applied to its
// config last.
func startShopEdited(t *testing.T, webhookURL, store string, edit func(cfg string) string) *shop {
	t.Helper()
	bin := caddyBinary(t)
	for attempt := 0; ; attempt++ {
		s, err := tryStartShop(t, bin, webhookURL, store, edit)
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
}

func tryStartShop(t *testing.T, bin, webhookURL, store string, edit func(string) string) (*shop, error) {
	dir := t.TempDir()
	front, back, ops, admin := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg, err := demoConfig(t, front, back, ops, admin, webhookURL, store)
	if err != nil {
		t.Fatal(err) // the demo's Caddyfile changed: not worth a retry
	}
	if edit != nil {
		cfg = edit(cfg)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	s := &shop{URL: fmt.Sprintf("http://127.0.0.1:%d", front), Ops: fmt.Sprintf("http://127.0.0.1:%d", ops), log: filepath.Join(dir, "caddy.log"), exited: make(chan struct{}),
		adminAt: fmt.Sprintf("127.0.0.1:%d", admin)}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("caddy's log:\n%s", tailLines(string(b), 30))
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.exited:
			b, _ := os.ReadFile(s.log)
			return nil, fmt.Errorf("caddy exited: %s", tailLines(string(b), 10))
		default:
		}
		if res, err := http.Get(s.URL + "/index.html"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
	}
	return nil, errors.New("caddy did not answer within 20s")
}

// demoConfig is the README's demo, Caddyfile.example, on free ports and
// with a webhook forward added, so that the test drives the demo itself.
func demoConfig(t *testing.T, front, back, ops, admin int, webhookURL, store string) (string, error) {
	root := moduleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Caddyfile.example"))
	if err != nil {
		return "", err
	}
	cfg := string(b)
	if store != "" {
		// The shop's store and the operators' site's, the same one.
		if cfg, err = replaceStores(cfg, store); err != nil {
			return "", err
		}
	}
	for _, r := range [][2]string{
		{"admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d\n\tpersist_config off", admin)},
		{"http://localhost:8080 {", fmt.Sprintf("http://127.0.0.1:%d {", front)},
		{"http://localhost:8081 {", fmt.Sprintf("http://127.0.0.1:%d {", back)},
		{"http://localhost:8082 {", fmt.Sprintf("http://127.0.0.1:%d {", ops)},
		{"X-Demo-Inspector http://localhost:8082/", fmt.Sprintf("X-Demo-Inspector http://127.0.0.1:%d/", ops)},
		{"reverse_proxy localhost:8081", fmt.Sprintf("reverse_proxy 127.0.0.1:%d", back)},
		{"root * demo/shop", "root * " + filepath.Join(root, "demo", "shop")},
		{"\t\tcollect /_sessiontap/collect\n", fmt.Sprintf("\t\tcollect /_sessiontap/collect\n"+
			"\t\tforward webhook %s/hook {\n\t\t\tsecret %s\n\t\t}\n\t\tdelivery {\n\t\t\tmax_attempts 1\n\t\t}\n", webhookURL, webhookSecret)},
		// A secret the test knows, so that it can mint cookies as an
		// attacker who had it would.
		{"\t\tinspector\n", "\t\tinspector {\n\t\t\tsecret " + inspectorSecret + "\n\t\t}\n"},
	} {
		if strings.Count(cfg, r[0]) != 1 {
			return "", fmt.Errorf("Caddyfile.example no longer has exactly one %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg, nil
}

// replaceStores puts store in place of every store bigcache block (the
// shop's and the operators' site's).
func replaceStores(cfg, store string) (string, error) {
	const open = "\tstore bigcache {\n"
	n := 0
	for i := 0; ; n++ {
		start := strings.Index(cfg[i:], open)
		if start < 0 {
			break
		}
		start += i
		// The block's indentation: its closing brace has the same.
		line := strings.LastIndex(cfg[:start], "\n") + 1
		indent := cfg[line : start+1]
		end := strings.Index(cfg[start:], "\n"+indent+"}\n")
		if end < 0 {
			return "", errors.New("Caddyfile.example has a store bigcache block without its end")
		}
		repl := strings.ReplaceAll(strings.TrimLeft(store, "\t"), "\n\t\t", "\n"+indent)
		cfg = cfg[:line] + indent + repl + cfg[start+end+len("\n"+indent+"}"):]
		i = line + len(indent) + len(repl)
	}
	if n != 2 {
		return "", fmt.Errorf("Caddyfile.example has %d store bigcache blocks; want the shop's and the operators'", n)
	}
	return cfg, nil
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// mac is the inspector cookie's signature of body under key, computed
// here as an attacker who knew the key would.
func mac(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Package spectest loads the upstream APIs' OpenAPI documents for tests:
// once per test binary, checked, and routed on paths alone. Only tests
// import it, so kin-openapi never reaches a Caddy binary.
package spectest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The specs in the repository's testdata/specs (see its README for
// their origin and licence).
const (
	TalonOne = "talon-one-openapi.yaml"
	Emporix  = "emporix-session-context.json"
)

// Spec is a loaded OpenAPI document and its router.
type Spec struct {
	Path   string
	Doc    *openapi3.T
	Router routers.Router
}

type entry struct {
	once sync.Once
	spec *Spec
	err  error
}

var (
	mu     sync.Mutex
	loaded = map[string]*entry{}
)

// Load returns the named spec, parsing it the first time (the Talon.One
// spec is 1.7 MB of YAML), or fails the test.
func Load(t testing.TB, name string) *Spec {
	t.Helper()
	mu.Lock()
	e, ok := loaded[name]
	if !ok {
		e = &entry{}
		loaded[name] = e
	}
	mu.Unlock()
	e.once.Do(func() { e.spec, e.err = load(name) })
	if e.err != nil {
		t.Fatalf("spec: %v", e.err)
	}
	return e.spec
}

func load(name string) (*Spec, error) {
	path, err := Find(name)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	// The Talon.One spec has an empty info.version, which OpenAPI forbids
	// and which matters for nothing here.
	if doc.Info != nil && doc.Info.Version == "" {
		doc.Info.Version = "unversioned"
	}
	// The Talon.One spec has examples that do not match their own schemas
	// ("{}" strings for objects); the schemas are what counts.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	// Route on paths alone: test servers are not the spec's hosts.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing %s: %w", path, err)
	}
	return &Spec{Path: path, Doc: doc, Router: router}, nil
}

// Find returns the path of a spec: name itself when it is a path, else the
// file in $SESSIONTAP_SPECS when set, else in the repository's
// testdata/specs, found from this source file so that every package's tests
// see the same copy whatever their working directory.
func Find(name string) (string, error) {
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	var dirs []string
	if d := os.Getenv("SESSIONTAP_SPECS"); d != "" {
		dirs = append(dirs, d)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "..", "..", "testdata", "specs"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, filepath.Base(name))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("spec %s not found in %v", name, dirs)
}

// Package goldentest holds JSON answers to files in testdata, so that a
// changed field shows in review beside what reads it (the inspector's
// page): tests only.
package goldentest

import (
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "write the golden files again")

// JSON compares v's indented JSON with the file at path; with -update it
// writes the file first. what names what must change along (a typedef).
func JSON(t testing.TB, path, what string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s changed: %s must change with it\ngot:\n%s\nwant:\n%s", path, what, got, want)
	}
}

package sidecar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfig checks examples/sidecar/sidecar.yaml: it is valid, and
// every file it names exists in the repository — the module as its source
// package (filters/<name>.wasm is built by `make filters`).
func TestExampleConfig(t *testing.T) {
	const path = "../examples/sidecar/sidecar.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	c, err := parseConfig(data, dir, false)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, l := range c.Listeners {
		for _, f := range l.Filters {
			src := strings.TrimSuffix(c.path(f.Wasm), ".wasm")
			if filepath.Base(filepath.Dir(src)) != "filters" {
				t.Errorf("%s: module %s is not a filters/<name>.wasm built by make", l.Name, f.Wasm)
			}
			if !filtersLanded() {
				t.Logf("%s: the filters (issue 3) are not in this tree yet: not checking %s and its configuration", l.Name, src)
				continue
			}
			if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
				t.Errorf("%s: filter source %s: %v", l.Name, src, err)
			}
			if f.ConfigurationFile != "" {
				if _, err := os.Stat(c.path(f.ConfigurationFile)); err != nil {
					t.Errorf("%s: %v", l.Name, err)
				}
			}
		}
	}
	var out strings.Builder
	if err := WriteEnvoyConfig(&out, c); err != nil {
		t.Fatal(err)
	}
}

// filtersLanded reports whether the lb and route filters are in the tree.
func filtersLanded() bool {
	for _, d := range []string{"../filters/lb/main.go", "../filters/route/main.go"} {
		if _, err := os.Stat(d); err != nil {
			return false
		}
	}
	return true
}

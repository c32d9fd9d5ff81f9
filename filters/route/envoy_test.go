package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/envoytest"
	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/internal/istio"
)

// TestEnvoyExample checks examples/route/envoy.yaml without running Envoy: the
// embedded configuration is the example file and the filter accepts it,
// and Envoy's routes read the routing header and define every cluster the
// rules can send a request to.
func TestEnvoyExample(t *testing.T) {
	root := filtertest.RepoRoot(t)
	b, ws := envoytest.Example(t, root, "route")
	for _, w := range ws {
		cfg, err := istio.Parse([]byte(w.Configuration))
		if err != nil {
			t.Fatalf("embedded configuration: %v", err)
		}
		envoytest.CheckRouting(t, b, cfg.ClusterHeader, cfg.Clusters())
		t.Run("accepted", func(t *testing.T) { filtertest.Start(t, &vmContext{}, w.Configuration) })
	}
	// The file's comments say any other example can be embedded instead:
	// its clusters must be defined too.
	files, _ := filepath.Glob(filepath.Join(root, "examples", "route", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := istio.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		envoytest.CheckRouting(t, b, cfg.ClusterHeader, cfg.Clusters())
	}
}

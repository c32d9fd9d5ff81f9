package main

import (
	"testing"

	"github.com/nicrt/nicrt/filters/internal/envoytest"
	"github.com/nicrt/nicrt/filters/internal/filtertest"
)

// TestEnvoyExample checks examples/lb/envoy.yaml without running Envoy: the
// embedded configuration is the example file and the filter accepts it,
// and Envoy's routes read the header the filter writes and define every
// cluster it can choose.
func TestEnvoyExample(t *testing.T) {
	root := filtertest.RepoRoot(t)
	b, ws := envoytest.Example(t, root, "lb")
	for _, w := range ws {
		cfg, err := parseConfig([]byte(w.Configuration))
		if err != nil {
			t.Fatalf("embedded configuration: %v", err)
		}
		envoytest.CheckRouting(t, b, cfg.clusterHeader, cfg.clusters)
		t.Run("accepted", func(t *testing.T) { filtertest.Start(t, &vmContext{}, w.Configuration) })
	}
}

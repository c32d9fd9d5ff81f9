package main

import (
	"testing"

	"github.com/nicrt/nicrt/filters/internal/envoytest"
	"github.com/nicrt/nicrt/filters/internal/filtertest"
)

// TestEnvoyExample checks examples/passthrough/envoy.yaml without running
// Envoy: it loads filters/passthrough.wasm with a configuration the filter
// accepts, and its routes name defined clusters.
func TestEnvoyExample(t *testing.T) {
	_, ws := envoytest.Example(t, filtertest.RepoRoot(t), "passthrough")
	for _, w := range ws {
		t.Run("accepted", func(t *testing.T) { filtertest.Start(t, &vmContext{}, w.Configuration) })
	}
}

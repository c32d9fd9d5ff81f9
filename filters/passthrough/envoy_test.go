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
	envoytest.CheckExample(t, filtertest.RepoRoot(t), "passthrough", nil,
		func(t *testing.T, cfg string) { filtertest.Start(t, &vmContext{}, cfg) }, "")
}

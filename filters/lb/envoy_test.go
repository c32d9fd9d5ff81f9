package main

import (
	"testing"

	"github.com/nicrt/nicrt/filters/internal/envoytest"
	"github.com/nicrt/nicrt/filters/internal/filtertest"
)

// TestEnvoyExample checks examples/lb/envoy.yaml without running Envoy: the
// embedded configuration is the example file it names and the filter
// accepts it; Envoy's routes read the routing header and define every
// cluster the filter can choose.
func TestEnvoyExample(t *testing.T) {
	envoytest.CheckExample(t, filtertest.RepoRoot(t), "lb", func(data []byte) (envoytest.Routing, error) {
		c, err := parseConfig(data)
		if err != nil {
			return envoytest.Routing{}, err
		}
		return envoytest.Routing{Header: c.clusterHeader, Clusters: c.clusters}, nil
	}, func(t *testing.T, cfg string) { filtertest.Start(t, &vmContext{}, cfg) }, "")
}

package main

import (
	"testing"

	"github.com/nicrt/nicrt/filters/internal/envoytest"
	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/internal/istio"
)

// TestEnvoyExample checks examples/fault/envoy.yaml without running Envoy: the
// embedded configuration is the example file it names and the filter
// accepts it; Envoy's routes read the routing header and define every
// cluster the rules of any examples/fault/*.json can send a request to.
func TestEnvoyExample(t *testing.T) {
	envoytest.CheckExample(t, filtertest.RepoRoot(t), "fault", func(data []byte) (envoytest.Routing, error) {
		c, err := istio.Parse(data)
		if err != nil {
			return envoytest.Routing{}, err
		}
		return envoytest.Routing{Header: c.ClusterHeader, Clusters: c.Clusters()}, nil
	}, func(t *testing.T, cfg string) { filtertest.Start(t, &vmContext{}, cfg) }, "*.json")
}

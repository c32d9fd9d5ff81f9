package main

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/nicrt/nicrt/filters/internal/authority"
	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/draw"
	"github.com/nicrt/nicrt/filters/internal/routing"
)

// policy is a load-balancing policy.
type policy uint8

const (
	roundRobin policy = iota
	random
	weighted
	leastRequest
	ringHash
)

var policyNames = [...]string{"round_robin", "random", "weighted", "least_request", "ring_hash"}

// String returns the policy's configuration name.
func (p policy) String() string { return policyNames[p] }

// Limits of the configuration.
const (
	maxClusters         = 1024
	defaultVirtualNodes = 128
	maxVirtualNodes     = 4096
	maxRingPoints       = 1 << 20
	maxWeight           = 1_000_000
)

// lbConfig is a parsed lb configuration.
type lbConfig struct {
	service       authority.Pattern
	policy        policy
	clusters      []string
	weights       draw.Weights // policy weighted
	hashHeader    string       // policy ring_hash
	virtualNodes  int          // policy ring_hash
	clusterHeader string
	seed          uint64
	sharedKey     string // prefix of the shared-data keys
}

// parseConfig reads and checks an lb configuration; the error names the
// offending field.
func parseConfig(data []byte) (*lbConfig, error) {
	doc := config.Parse(data)
	root := doc.Root()
	if root.IsNull() {
		doc.Fail("", "the configuration is empty; at least service and clusters are required")
		return nil, doc.Err()
	}
	o := root.Object()
	c := &lbConfig{clusterHeader: routing.DefaultClusterHeader, virtualNodes: defaultVirtualNodes}

	if v, ok := o.Required("service", ""); ok {
		p, err := authority.Compile(v.String())
		if err != nil {
			v.Fail("%v", err)
		}
		c.service = p
	}
	if v, ok := o.Get("policy"); ok {
		name := v.String()
		found := false
		for i, n := range policyNames {
			if n == name {
				c.policy, found = policy(i), true
			}
		}
		if !found {
			v.Fail("unknown policy %q (known: %s)", name, strings.Join(policyNames[:], ", "))
		}
	}
	var weights []uint32
	if v, ok := o.Required("clusters", ""); ok {
		elems := v.Array()
		if len(elems) == 0 || len(elems) > maxClusters {
			v.Fail("must list 1 to %d clusters, not %d", maxClusters, len(elems))
		}
		for _, e := range elems {
			name, w := c.parseCluster(e)
			for _, prev := range c.clusters {
				if prev == name {
					e.Fail("cluster %q is listed twice", name)
				}
			}
			c.clusters = append(c.clusters, name)
			weights = append(weights, w)
		}
	}
	if c.policy == weighted && len(weights) > 0 {
		w, err := draw.NewWeights(weights)
		if err != nil {
			o.Fail("clusters", "%v", err)
		}
		c.weights = w
	}
	if v, ok := o.Get("hash_header"); ok {
		if c.policy != ringHash {
			v.Fail("only used by policy ring_hash (policy is %s)", c.policy)
		}
		h, err := routing.ClusterHeader(v.String())
		if err != nil {
			v.Fail("%v", err)
		}
		c.hashHeader = h
	} else if c.policy == ringHash {
		o.Fail("hash_header", "required by policy ring_hash")
	}
	if v, ok := o.Get("virtual_nodes"); ok {
		if c.policy != ringHash {
			v.Fail("only used by policy ring_hash (policy is %s)", c.policy)
		}
		c.virtualNodes = int(v.Int(1, maxVirtualNodes))
		if len(c.clusters)*c.virtualNodes > maxRingPoints {
			v.Fail("%d clusters × %d virtual nodes is more than %d ring points", len(c.clusters), c.virtualNodes, maxRingPoints)
		}
	}
	if v, ok := o.Get("cluster_header"); ok {
		h, err := routing.ClusterHeader(v.String())
		if err != nil {
			v.Fail("%v", err)
		}
		c.clusterHeader = h
	}
	c.seed = uint64(o.Int("random_seed", 0, 0, 1<<63-1))
	c.sharedKey = o.String("shared_data_key", "")
	if o.Has("shared_data_key") && c.sharedKey == "" {
		o.Fail("shared_data_key", "must not be empty")
	}
	o.Done()
	if err := doc.Err(); err != nil {
		return nil, err
	}
	if c.sharedKey == "" {
		c.sharedKey = defaultSharedKey(c.service.String(), c.clusters)
	}
	return c, nil
}

// parseCluster reads one "clusters" entry: a name, or {"name", "weight"}.
func (c *lbConfig) parseCluster(e config.Value) (string, uint32) {
	var name string
	var weight uint32
	switch e.Kind() {
	case "string":
		name = e.String()
		if c.policy == weighted {
			e.Fail("policy weighted needs {\"name\": ..., \"weight\": ...} for every cluster")
		}
	default:
		co := e.Object()
		if nv, ok := co.Required("name", ""); ok {
			name = nv.String()
		}
		if wv, ok := co.Get("weight"); ok {
			if c.policy != weighted {
				wv.Fail("only used by policy weighted (policy is %s)", c.policy)
			}
			weight = uint32(wv.Int(0, maxWeight))
		} else if c.policy == weighted {
			co.Fail("weight", "required by policy weighted")
		}
		co.Done()
	}
	if err := routing.ClusterName(name); err != nil {
		e.Fail("%v", err)
	}
	return name, weight
}

// defaultSharedKey names the shared data of one service's balancer. The
// cluster list is part of it, so two configurations that balance the same
// service over different clusters never read each other's counters.
func defaultSharedKey(service string, clusters []string) string {
	h := fnv.New64a()
	for _, c := range clusters {
		h.Write([]byte(c))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("nicrt.lb/%s/%016x", service, h.Sum64())
}

package topology

import (
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/nicrt/nicrt/bookinfo-harness/launch"
)

// The sidecar configuration, as `nicrt sidecar --config FILE` reads it
// (docs/sidecar.md); only the fields the topologies set.
type sidecarConfig struct {
	NodeID    string            `yaml:"node_id"`
	Admin     sidecarAdmin      `yaml:"admin"`
	Listeners []sidecarListener `yaml:"listeners"`
	Clusters  []sidecarCluster  `yaml:"clusters"`
	Wasm      *sidecarWasm      `yaml:"wasm,omitempty"`
}

type sidecarWasm struct {
	CacheDir string `yaml:"cache_dir"`
}

type sidecarAdmin struct {
	Address string `yaml:"address"`
}

type sidecarListener struct {
	Name      string          `yaml:"name"`
	Address   string          `yaml:"address"`
	Direction string          `yaml:"direction"`
	Routes    []sidecarRoute  `yaml:"routes,omitempty"`
	Cluster   string          `yaml:"cluster,omitempty"`
	Filters   []sidecarFilter `yaml:"filters,omitempty"`
}

type sidecarRoute struct {
	Hosts   []string `yaml:"hosts"`
	Cluster string   `yaml:"cluster"`
}

type sidecarCluster struct {
	Name      string   `yaml:"name"`
	Endpoints []string `yaml:"endpoints"`
}

type sidecarFilter struct {
	Name              string `yaml:"name"`
	Wasm              string `yaml:"wasm"`
	ConfigurationFile string `yaml:"configuration_file"`
}

// pod is one host of a sidecar topology: its service, where the service
// listens, and its sidecar's listeners.
type pod struct {
	host     int
	app      string // the service's own address
	inbound  string // the sidecar's inbound listener: where callers connect
	outbound string // the sidecar's outbound listener ("" when none)
	admin    string // the sidecar's admin API
}

// pods picks the addresses of a sidecar topology's hosts.
func (b *builder) pods(outbound bool, hs ...int) (map[int]*pod, error) {
	m := map[int]*pod{}
	for _, h := range hs {
		p := &pod{host: h}
		ports := []*string{&p.app, &p.inbound, &p.admin}
		if outbound && calls(h) {
			ports = append(ports, &p.outbound)
		}
		for _, a := range ports {
			var err error
			if *a, err = b.addr(h); err != nil {
				return nil, err
			}
		}
		m[h] = p
	}
	return m, nil
}

// calls reports whether a host's service calls other services (only those
// need an outbound listener).
func calls(h int) bool {
	return h == hostProductpage || h == hostReviewsV1 || h == hostReviewsV2 || h == hostReviewsV3
}

// sidecar adds a pod's sidecar process and its configuration file: an
// inbound listener in front of the pod's service and, when given, an
// outbound listener with the clusters it routes to.
func (b *builder) sidecar(p *pod, outbound *sidecarListener, clusters []sidecarCluster) {
	name := hosts[p.host] + "-sidecar"
	cfg := sidecarConfig{
		NodeID: name,
		Admin:  sidecarAdmin{Address: p.admin},
		Listeners: []sidecarListener{{
			Name: "inbound", Address: p.inbound, Direction: "inbound", Cluster: "local",
		}},
		Clusters: []sidecarCluster{{Name: "local", Endpoints: []string{p.app}}},
	}
	if b.opts.WasmCacheDir != "" {
		cfg.Wasm = &sidecarWasm{CacheDir: b.opts.WasmCacheDir}
	}
	ready := []string{p.inbound, p.admin}
	if outbound != nil {
		cfg.Listeners = append(cfg.Listeners, *outbound)
		cfg.Clusters = append(cfg.Clusters, clusters...)
		ready = append(ready, outbound.Address)
	}
	path := filepath.Join(b.opts.Dir, name+".yaml")
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	b.plan.Files = append(b.plan.Files, File{Path: path, Data: append([]byte("# written by nicrt's harness for topology "+b.plan.Topology+"\n"), data...)})
	b.plan.Procs = append(b.plan.Procs, launch.Spec{Name: name, Args: []string{"sidecar", "--config", path}, Ready: ready})
}

// buildSidecarInbound: an inbound sidecar in front of each service; callers
// connect to the callee's sidecar, which forwards to its local service.
// reviews is v3 alone, as in direct: an inbound sidecar stands in front of
// one host and cannot choose between versions.
//
//	client → [pp sidecar] → productpage → [details sidecar] → details
//	                                    → [v3 sidecar] → reviews-v3 → [ratings sidecar] → ratings
func buildSidecarInbound(b *builder) error {
	if err := b.need("sidecar", "the sidecar (`nicrt sidecar`, issue 4)"); err != nil {
		return err
	}
	ps, err := b.pods(false, hostProductpage, hostDetails, hostReviewsV3, hostRatings)
	if err != nil {
		return err
	}
	for _, h := range []int{hostRatings, hostDetails, hostReviewsV3, hostProductpage} {
		b.sidecar(ps[h], nil, nil)
	}
	b.service(hostRatings, ps[hostRatings].app)
	b.service(hostDetails, ps[hostDetails].app)
	b.service(hostReviewsV3, ps[hostReviewsV3].app, "--ratings", ps[hostRatings].inbound)
	b.service(hostProductpage, ps[hostProductpage].app,
		"--details", ps[hostDetails].inbound, "--reviews", ps[hostReviewsV3].inbound, "--ratings", ps[hostRatings].inbound)
	b.plan.Entry = "http://" + ps[hostProductpage].inbound + "/productpage"
	return nil
}

// buildSidecarBoth: as in Istio, each pod's sidecar has an inbound listener
// in front of its service and, for services that call others, an outbound
// listener that every upstream connection of the service is redirected to
// (nicrt bookinfo serve --outbound, like iptables REDIRECT). The outbound
// listener runs the filter chain: the lb filter picks reviews-v1, -v2 or -v3
// by setting the routing header, and the sidecar sends the request to that
// version's inbound sidecar.
//
//	client → [pp in] → productpage → [pp out: filters] → [details in] → details
//	                                                    → [reviews-vN in] → reviews-vN → [vN out] → [ratings in] → ratings
func buildSidecarBoth(b *builder) error {
	if err := b.need("sidecar", "the sidecar (`nicrt sidecar`, issue 4)"); err != nil {
		return err
	}
	all := []int{hostProductpage, hostDetails, hostReviewsV1, hostReviewsV2, hostReviewsV3, hostRatings}
	ps, err := b.pods(true, all...)
	if err != nil {
		return err
	}
	filters, err := b.filterFiles()
	if err != nil {
		return err
	}
	clusters := meshClusters(func(h int) string { return ps[h].inbound })
	for _, h := range []int{hostRatings, hostDetails, hostReviewsV1, hostReviewsV2, hostReviewsV3, hostProductpage} {
		p := ps[h]
		var out *sidecarListener
		if p.outbound != "" {
			out = &sidecarListener{
				Name: "outbound", Address: p.outbound, Direction: "outbound",
				Routes: []sidecarRoute{
					{Hosts: []string{"details"}, Cluster: "details"},
					{Hosts: []string{"reviews"}, Cluster: "reviews"},
					{Hosts: []string{"ratings"}, Cluster: "ratings"},
				},
				Filters: filters,
			}
		}
		b.sidecar(p, out, clusters)
	}
	for _, h := range all {
		var extra []string
		if ps[h].outbound != "" {
			extra = []string{"--outbound", ps[h].outbound}
		}
		b.service(h, ps[h].app, extra...)
	}
	b.plan.Entry = "http://" + ps[hostProductpage].inbound + "/productpage"
	b.plan.Filters = b.opts.Filters
	return nil
}

// meshClusters names every destination a caller's filters may choose:
// each service by name (reviews: all three versions, as a Kubernetes
// Service without rules) and each version as <service>-<version>, the
// cluster names of the lb and route filters (Istio subsets).
func meshClusters(at func(int) string) []sidecarCluster {
	return []sidecarCluster{
		{Name: "details", Endpoints: []string{at(hostDetails)}},
		{Name: "details-v1", Endpoints: []string{at(hostDetails)}},
		{Name: "reviews", Endpoints: []string{at(hostReviewsV1), at(hostReviewsV2), at(hostReviewsV3)}},
		{Name: "reviews-v1", Endpoints: []string{at(hostReviewsV1)}},
		{Name: "reviews-v2", Endpoints: []string{at(hostReviewsV2)}},
		{Name: "reviews-v3", Endpoints: []string{at(hostReviewsV3)}},
		{Name: "ratings", Endpoints: []string{at(hostRatings)}},
		{Name: "ratings-v1", Endpoints: []string{at(hostRatings)}},
	}
}

// filterFiles writes the chain's configurations and returns the sidecar's
// filter list.
func (b *builder) filterFiles() ([]sidecarFilter, error) {
	var fs []sidecarFilter
	for i, f := range b.opts.Filters {
		wasm, err := b.wasmPath(f.Kind)
		if err != nil {
			return nil, err
		}
		fs = append(fs, sidecarFilter{Name: fmt.Sprintf("%s-%d", f.Kind, i), Wasm: wasm, ConfigurationFile: b.filterFile(i, f)})
	}
	return fs, nil
}

// filterFile adds the i-th filter's configuration to the plan's files and
// returns its path.
func (b *builder) filterFile(i int, f Filter) string {
	path := filepath.Join(b.opts.Dir, fmt.Sprintf("filter-%d-%s.json", i, f.Kind))
	b.plan.Files = append(b.plan.Files, File{Path: path, Data: f.Config})
	return path
}

// Command route is a Proxy-Wasm HTTP filter that routes requests with Istio
// VirtualService HTTP rules.
//
// Its configuration is a VirtualService's http list, or an object with
// hosts and http (see package filters/internal/istio and docs/filters.md).
// For each request for one of the hosts, the first rule whose match accepts
// it is chosen, a destination is drawn by weight, and the destination's
// cluster name is written into the routing header (default
// "x-nicrt-cluster"); the data plane then forwards the request to that
// cluster, as Envoy does with a cluster_header route. Requests no rule
// matches are left untouched. Faults in the same rules are the fault
// filter's job.
package main

import (
	"github.com/nicrt/nicrt/filters/internal/draw"
	"github.com/nicrt/nicrt/filters/internal/host"
	"github.com/nicrt/nicrt/filters/internal/istio"
	"github.com/nicrt/nicrt/filters/internal/promname"
	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// pluginContext holds one parsed configuration and its metrics.
type pluginContext struct {
	types.DefaultPluginContext
	cfg *istio.Config
	src *draw.Source
	// routed[rule][destination] counts requests routed to that destination.
	routed    [][]proxywasm.MetricCounter
	unmatched proxywasm.MetricCounter
	// req is the request being routed. Route decides within
	// OnHttpRequestHeaders and keeps nothing per stream, and a VM runs one
	// callback at a time, so one Request serves every stream.
	req istio.Request
	// http is every stream's context.
	http httpContext
}

// OnPluginStart implements types.PluginContext: it parses and checks the
// configuration and defines the metrics.
func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := host.Configure("route", size, istio.Parse)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.src = draw.New(cfg.RandomSeed)
	p.http.p = p
	hostLabel := cfg.HostsLabel()
	p.routed = make([][]proxywasm.MetricCounter, len(cfg.Rules))
	for i, r := range cfg.Rules {
		p.routed[i] = make([]proxywasm.MetricCounter, len(r.Route))
		for j, d := range r.Route {
			p.routed[i][j] = proxywasm.DefineCounterMetric(promname.Name("nicrt_route_requests_total",
				"host", hostLabel, "rule", r.Label, "cluster", d.Cluster))
		}
		if r.Fault != nil {
			proxywasm.LogInfof("nicrt route filter: http[%d] has a fault; faults are injected by the fault filter, not by route", i)
		}
	}
	p.unmatched = proxywasm.DefineCounterMetric(promname.Name("nicrt_route_unmatched_total", "host", hostLabel))
	proxywasm.LogInfof("nicrt route filter: %d rules for hosts %s, routing header %q", len(cfg.Rules), hostLabel, cfg.ClusterHeader)
	return types.OnPluginStartStatusOK
}

// NewHttpContext implements types.PluginContext. Every stream shares one
// stateless context, as passthrough's do: a stream costs the filter no
// context of its own.
func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &p.http }

type httpContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

// OnHttpRequestHeaders chooses the rule and destination and sets the routing header.
func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.p.route()
	return types.ActionContinue
}

// route routes the current request.
func (p *pluginContext) route() {
	p.req.Reset(proxywasm.GetHttpRequestHeader)
	r := p.cfg.Select(&p.req)
	if r == nil {
		p.unmatched.Increment(1)
		return
	}
	i := r.Pick(p.src)
	if err := proxywasm.ReplaceHttpRequestHeader(p.cfg.ClusterHeader, r.Route[i].Cluster); err != nil {
		p.setFailed(err)
		return
	}
	p.routed[r.Index][i].Increment(1)
}

// setFailed logs a failure to write the routing header. It is a function
// of its own to keep route, which runs on every request, small: in a
// wasip1 module a jump costs in proportion to the size of its function.
//
//go:noinline
func (p *pluginContext) setFailed(err error) {
	proxywasm.LogErrorf("nicrt route filter: cannot set %s: %v", p.cfg.ClusterHeader, err)
}

// Command lb is a Proxy-Wasm HTTP filter that load-balances one service's
// requests over clusters — Bookinfo's reviews v1/v2/v3 case.
//
// Requests whose :authority names the configured service (port ignored,
// Kubernetes spellings accepted: see package filters/internal/authority) get
// the chosen cluster's name in the routing header (default
// "x-nicrt-cluster"); the data plane forwards them there, as Envoy does with
// a cluster_header route. Other requests pass untouched.
//
// Policies: round_robin (one sequence across every VM of the plugin, kept in
// shared data), random, weighted, least_request (in-flight counts in shared
// data, released when the stream ends however it ends) and ring_hash
// (consistent hashing of a request header: the same user sticks to the same
// cluster). See docs/filters.md for the configuration.
package main

import (
	"fmt"

	"github.com/nicrt/nicrt/filters/internal/authority"
	"github.com/nicrt/nicrt/filters/internal/draw"
	"github.com/nicrt/nicrt/filters/internal/host"
	"github.com/nicrt/nicrt/filters/internal/promname"
	"github.com/nicrt/nicrt/filters/internal/reuse"
	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

// NewPluginContext implements types.VMContext.
func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	cfg  *lbConfig
	src  *draw.Source
	ring ring // policy ring_hash

	rr    *sharedCounters // policy round_robin: one counter
	local uint64          // round_robin position used when shared data fails
	lr    *sharedCounters // policy least_request: one counter per cluster

	stateless statelessContext // every stream's context, except under least_request
	// shared is &stateless as the interface NewHttpContext returns, nil
	// under least_request: set once at configure time, so a new stream
	// costs one nil check rather than a look at the policy.
	shared  types.HttpContext
	service authority.Remembering

	requests      []proxywasm.MetricCounter // per cluster
	inFlight      []proxywasm.MetricGauge   // per cluster, least_request only
	skipped       proxywasm.MetricCounter
	sharedErrors  proxywasm.MetricCounter
	hashMissing   proxywasm.MetricCounter
	releaseFailed proxywasm.MetricCounter

	ctxs reuse.Pool[httpContext]
}

// OnPluginStart implements types.PluginContext: it parses the configuration
// and defines one set of metrics per cluster.
func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := host.Configure("lb", size, parseConfig)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.src = draw.New(cfg.seed)
	p.stateless.p = p
	if cfg.policy != leastRequest {
		p.shared = &p.stateless
	}
	p.service = authority.Remember(authority.Set{cfg.service})
	svc := cfg.service.String()
	metric := func(name string, kv ...string) string {
		return promname.Name(name, append([]string{"service", svc}, kv...)...)
	}
	p.requests = make([]proxywasm.MetricCounter, len(cfg.clusters))
	for i, c := range cfg.clusters {
		p.requests[i] = proxywasm.DefineCounterMetric(metric("nicrt_lb_requests_total", "cluster", c))
	}
	p.skipped = proxywasm.DefineCounterMetric(metric("nicrt_lb_skipped_total"))
	p.sharedErrors = proxywasm.DefineCounterMetric(metric("nicrt_lb_shared_data_errors_total"))
	retries := proxywasm.DefineCounterMetric(metric("nicrt_lb_cas_retries_total"))
	switch cfg.policy {
	case roundRobin:
		p.rr = newSharedCounters(cfg.sharedKey+"/rr", 1, retries)
	case leastRequest:
		p.lr = newSharedCounters(cfg.sharedKey+"/in_flight", len(cfg.clusters), retries)
		p.inFlight = make([]proxywasm.MetricGauge, len(cfg.clusters))
		for i, c := range cfg.clusters {
			p.inFlight[i] = proxywasm.DefineGaugeMetric(metric("nicrt_lb_in_flight", "cluster", c))
		}
		p.releaseFailed = proxywasm.DefineCounterMetric(metric("nicrt_lb_release_failures_total"))
	case ringHash:
		p.ring = newRing(cfg.clusters, cfg.virtualNodes)
		p.hashMissing = proxywasm.DefineCounterMetric(metric("nicrt_lb_hash_header_missing_total"))
	}
	for _, sc := range []*sharedCounters{p.rr, p.lr} {
		if sc == nil {
			continue
		}
		if err := sc.ensure(); err != nil {
			return host.Refuse("lb", fmt.Errorf("shared data %s: %w", sc.key, err))
		}
	}
	proxywasm.LogInfof("nicrt lb filter: service %s, policy %s over %d clusters, routing header %q",
		svc, cfg.policy, len(cfg.clusters), cfg.clusterHeader)
	return types.OnPluginStartStatusOK
}

// NewHttpContext implements types.PluginContext. Only least_request keeps
// per-stream state (the in-flight count to give back when the stream ends);
// every other policy decides within OnHttpRequestHeaders, so all its streams
// share one stateless context, as passthrough's do, and a stream costs the
// filter no context of its own.
func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	if p.shared != nil {
		return p.shared
	}
	return p.newLeastRequestContext()
}

// newLeastRequestContext gives a least_request stream a context of its own.
// It is out of line so that NewHttpContext, which every stream calls, stays
// small: inlined, the pool's code made it cost ~100 wasm instructions for
// the other policies too.
//
//go:noinline
func (p *pluginContext) newLeastRequestContext() *httpContext {
	h := p.ctxs.Get()
	h.p, h.chosen, h.accounted = p, -1, false
	return h
}

// choose picks a cluster index for one request; accounted says an in-flight
// count was taken that release must give back.
func (p *pluginContext) choose() (idx int, accounted bool) {
	n := len(p.cfg.clusters)
	switch p.cfg.policy {
	case roundRobin:
		// The next position of the pool-wide sequence: one read and one
		// compare-and-swap write of the shared position (see shared.go).
		pos, ok := p.rr.next(chooseTries)
		if !ok {
			pos = p.localPosition()
		}
		return int(pos % uint64(n)), false
	case random:
		return p.src.IntN(n), false
	case weighted:
		return p.cfg.weights.Pick(p.src), false
	case leastRequest:
		return p.acquireLeast()
	default: // ringHash
		key, err := proxywasm.GetHttpRequestHeader(p.cfg.hashHeader)
		if err != nil || key == "" {
			p.hashMissing.Increment(1)
			return p.src.IntN(n), false
		}
		return p.ring.lookup(key), false
	}
}

// localPosition is round robin's fallback when shared data keeps failing:
// the VM's own counter, so requests still spread.
//
//go:noinline
func (p *pluginContext) localPosition() uint64 {
	p.sharedErrors.Increment(1)
	p.local++
	return p.local - 1
}

// acquireLeast picks the cluster with the fewest requests in flight across
// the pool (ties broken at random, so an idle service spreads its requests)
// and counts this request against it.
func (p *pluginContext) acquireLeast() (int, bool) {
	lr := p.lr
	for try := 0; try < chooseTries; try++ {
		cas, ok := lr.load()
		if !ok {
			break
		}
		idx := pickLeast(lr, len(p.cfg.clusters), p.src)
		lr.set(idx, lr.count(idx)+1)
		stored, retry := lr.store(cas)
		if stored {
			p.inFlight[idx].Add(1)
			return idx, true
		}
		if !retry {
			break
		}
	}
	p.sharedErrors.Increment(1)
	return p.src.IntN(len(p.cfg.clusters)), false
}

// pickLeast returns the index of the smallest of the n counters, choosing
// uniformly among ties (reservoir sampling: the k-th tie replaces the
// choice with probability 1/k).
func pickLeast(c *sharedCounters, n int, src *draw.Source) int {
	idx, least, ties := 0, c.count(0), 1
	for i := 1; i < n; i++ {
		v := c.count(i)
		switch {
		case v < least:
			idx, least, ties = i, v, 1
		case v == least:
			ties++
			if src.IntN(ties) == 0 {
				idx = i
			}
		}
	}
	return idx
}

// release gives back the in-flight count taken by acquireLeast. A count
// already at zero (e.g. another VM reset the value) is left there, never
// taken below zero, and counted as a failed release.
func (p *pluginContext) release(idx int) {
	lr := p.lr
	released := false
	for try := 0; try < releaseTries; try++ {
		cas, ok := lr.load()
		if !ok {
			break
		}
		n := lr.count(idx)
		if n == 0 {
			break
		}
		lr.set(idx, n-1)
		stored, retry := lr.store(cas)
		if stored || !retry {
			released = stored
			break
		}
	}
	if !released {
		p.releaseFailed.Increment(1)
	}
	p.inFlight[idx].Add(-1)
}

// balance handles one request's headers: requests for the service get the
// chosen cluster in the routing header. It returns the chosen index and
// whether an in-flight count was taken (least_request), or ok false when
// the request was left untouched.
func (p *pluginContext) balance() (idx int, accounted, ok bool) {
	authority, err := proxywasm.GetHttpRequestHeader(":authority")
	if err != nil || !p.service.Match(authority) {
		p.skipped.Increment(1)
		return 0, false, false
	}
	idx, accounted = p.choose()
	if err = proxywasm.ReplaceHttpRequestHeader(p.cfg.clusterHeader, p.cfg.clusters[idx]); err != nil {
		p.setFailed(err, idx, accounted)
		return 0, false, false
	}
	p.requests[idx].Increment(1)
	return idx, accounted, true
}

// setFailed logs a failure to write the routing header and gives back the
// in-flight count taken for it. It is a function of its own to keep
// balance, which runs on every request, small: in a wasip1 module a jump
// costs in proportion to the size of its function.
//
//go:noinline
func (p *pluginContext) setFailed(err error, idx int, accounted bool) {
	proxywasm.LogErrorf("nicrt lb filter: cannot set %s: %v", p.cfg.clusterHeader, err)
	if accounted {
		p.release(idx)
	}
}

// statelessContext serves every stream of a policy that keeps nothing per
// stream (all but least_request).
type statelessContext struct {
	types.DefaultHttpContext
	p *pluginContext
}

// OnHttpRequestHeaders balances requests for the service.
func (h *statelessContext) OnHttpRequestHeaders(int, bool) types.Action {
	h.p.balance()
	return types.ActionContinue
}

// httpContext is one least_request stream: it remembers the cluster whose
// in-flight count it took.
type httpContext struct {
	types.DefaultHttpContext
	p         *pluginContext
	chosen    int
	accounted bool
}

// OnHttpRequestHeaders balances requests for the service.
func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	idx, accounted, ok := h.p.balance()
	if ok {
		h.chosen, h.accounted = idx, accounted
	}
	return types.ActionContinue
}

// OnHttpStreamDone runs when the stream ends however it ended (completed,
// reset, aborted by a local response), so least_request's count is always
// given back.
func (h *httpContext) OnHttpStreamDone() {
	p := h.p
	if h.accounted {
		p.release(h.chosen)
	}
	p.ctxs.Put(h)
}

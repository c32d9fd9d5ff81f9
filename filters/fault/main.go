// Command fault is a Proxy-Wasm HTTP filter that injects Istio
// VirtualService faults: delays and aborts.
//
// It reads the same configuration as the route filter (a VirtualService http
// list, or an object with hosts and http) and picks a rule the same way: the
// first rule whose match accepts the request. If that rule has a fault, then
// independently for each of its parts, with the configured percentage:
//
//   - delay: the request is paused and resumed fixedDelay later. Proxy-Wasm
//     has no per-stream timer, so paused streams wait in the plugin context
//     and the plugin's tick (every fault_tick_ms, default 10 ms) resumes those
//     whose deadline has passed: a delay lasts between fixedDelay and
//     fixedDelay plus one tick period (plus the host's own timer lateness).
//   - abort: the filter answers with a local response of httpStatus, body
//     "fault filter abort", instead of forwarding the request. When both hit,
//     the request is delayed first and then aborted, as with Envoy.
//
// Routing itself is the route filter's job; put fault first in the chain.
package main

import (
	"time"

	"github.com/nicrt/nicrt/filters/internal/draw"
	"github.com/nicrt/nicrt/filters/internal/host"
	"github.com/nicrt/nicrt/filters/internal/istio"
	"github.com/nicrt/nicrt/filters/internal/promname"
	"github.com/nicrt/nicrt/filters/internal/reuse"
	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

// vmContext creates plugin contexts. clock, when set (by tests), replaces
// the monotonic clock that delays are measured with.
type vmContext struct {
	types.DefaultVMContext
	clock func() time.Duration
}

// NewPluginContext implements types.VMContext.
func (v *vmContext) NewPluginContext(uint32) types.PluginContext {
	p := &pluginContext{now: v.clock}
	if p.now == nil {
		start := time.Now()
		p.now = func() time.Duration { return time.Since(start) }
	}
	return p
}

// The local response of an abort, as Envoy's fault filter sends it.
var (
	abortHeaders = [][2]string{{"content-type", "text/plain"}}
	abortBody    = []byte("fault filter abort")
)

// ruleMetrics counts what one rule's fault did.
type ruleMetrics struct {
	delays, aborts proxywasm.MetricCounter
}

type pluginContext struct {
	types.DefaultPluginContext
	cfg   *istio.Config
	src   *draw.Source
	now   func() time.Duration
	queue delayQueue

	rules        []ruleMetrics
	delayed      proxywasm.MetricGauge   // requests paused right now
	cancelled    proxywasm.MetricCounter // streams that ended while paused
	resumeErrors proxywasm.MetricCounter // resumes the host refused

	// req is the request being matched; it is only used within
	// OnHttpRequestHeaders, and a VM runs one callback at a time.
	req  istio.Request
	ctxs reuse.Pool[httpContext]
}

// OnPluginStart implements types.PluginContext: it parses the configuration,
// defines the metrics and, if any rule delays, starts the tick timer.
func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, ok := host.Configure("fault", size, istio.Parse)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.src = draw.New(cfg.RandomSeed)
	hostLabel := cfg.HostsLabel()
	faults := 0
	p.rules = make([]ruleMetrics, len(cfg.Rules))
	for i, r := range cfg.Rules {
		if r.Fault == nil {
			continue
		}
		faults++
		p.rules[i] = ruleMetrics{
			delays: proxywasm.DefineCounterMetric(promname.Name("nicrt_fault_delays_total", "host", hostLabel, "rule", r.Label)),
			aborts: proxywasm.DefineCounterMetric(promname.Name("nicrt_fault_aborts_total", "host", hostLabel, "rule", r.Label)),
		}
	}
	p.delayed = proxywasm.DefineGaugeMetric(promname.Name("nicrt_fault_delayed_requests", "host", hostLabel))
	p.cancelled = proxywasm.DefineCounterMetric(promname.Name("nicrt_fault_delays_cancelled_total", "host", hostLabel))
	p.resumeErrors = proxywasm.DefineCounterMetric(promname.Name("nicrt_fault_resume_errors_total", "host", hostLabel))
	if cfg.HasDelay() {
		if err := proxywasm.SetTickPeriodMilliSeconds(cfg.FaultTickMs); err != nil {
			return host.Refuse("fault", err)
		}
	}
	if faults == 0 {
		proxywasm.LogWarnf("nicrt fault filter: no rule of hosts %s has a fault; the filter will change nothing", hostLabel)
	}
	proxywasm.LogInfof("nicrt fault filter: %d of %d rules for hosts %s inject faults; timer period %d ms",
		faults, len(cfg.Rules), hostLabel, cfg.FaultTickMs)
	return types.OnPluginStartStatusOK
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	h := p.ctxs.Get()
	h.p, h.id, h.heapIndex = p, id, -1
	return h
}

// OnTick resumes (or aborts) every delayed request whose deadline has passed.
func (p *pluginContext) OnTick() {
	now := p.now()
	for p.queue.Len() > 0 && p.queue.Peek().deadline <= now {
		p.release(p.queue.Pop())
	}
}

// OnPluginDone releases every request still delayed, early: the plugin is
// going away and nothing else would ever resume them.
func (p *pluginContext) OnPluginDone() bool {
	for p.queue.Len() > 0 {
		p.release(p.queue.Pop())
	}
	return true
}

// release ends one request's delay: it aborts it if its abort was drawn, and
// otherwise lets it continue to the upstream.
func (p *pluginContext) release(h *httpContext) {
	p.delayed.Add(-1)
	if err := proxywasm.SetEffectiveContext(h.id); err != nil {
		p.resumeErrors.Increment(1)
		proxywasm.LogWarnf("nicrt fault filter: cannot resume stream %d: %v", h.id, err)
		return
	}
	if h.abortStatus != 0 {
		p.abort(h)
		return
	}
	if err := proxywasm.ResumeHttpRequest(); err != nil {
		p.resumeErrors.Increment(1)
		proxywasm.LogWarnf("nicrt fault filter: cannot resume stream %d: %v", h.id, err)
	}
}

func (p *pluginContext) abort(h *httpContext) {
	if err := proxywasm.SendHttpResponse(h.abortStatus, abortHeaders, abortBody, -1); err != nil {
		proxywasm.LogWarnf("nicrt fault filter: cannot abort stream %d: %v", h.id, err)
		return
	}
	p.rules[h.rule].aborts.Increment(1)
}

type httpContext struct {
	types.DefaultHttpContext
	p  *pluginContext
	id uint32

	rule        int           // index of the matched rule
	abortStatus uint32        // non-zero: abort with this status once the delay ends
	deadline    time.Duration // when a delayed request may go on
	heapIndex   int           // position in the delay queue, -1 when not delayed
}

// OnHttpRequestHeaders draws the matched rule's faults and applies them.
func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	p := h.p
	p.req.Reset(proxywasm.GetHttpRequestHeader)
	r := p.cfg.Select(&p.req)
	if r == nil || r.Fault == nil {
		return types.ActionContinue
	}
	f := r.Fault
	h.rule = r.Index
	delay := f.HasDelay && p.src.PerMillion(f.DelayPerMillion)
	if f.HasAbort && p.src.PerMillion(f.AbortPerMillion) {
		h.abortStatus = f.AbortStatus
	}
	if delay {
		h.deadline = p.now() + f.Delay
		p.queue.Push(h)
		p.delayed.Add(1)
		p.rules[h.rule].delays.Increment(1)
		return types.ActionPause
	}
	if h.abortStatus != 0 {
		p.abort(h)
		return types.ActionPause
	}
	return types.ActionContinue
}

// OnHttpStreamDone forgets a request that ended (reset, client gone) while
// it was delayed, so no tick tries to resume a stream that no longer exists,
// and hands the context back for the next stream.
func (h *httpContext) OnHttpStreamDone() {
	p := h.p
	if h.heapIndex >= 0 {
		p.queue.Remove(h)
		p.delayed.Add(-1)
		p.cancelled.Increment(1)
	}
	p.ctxs.Put(h)
}

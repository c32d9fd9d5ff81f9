package istio

import (
	"time"

	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/draw"
)

// MaxDelay bounds fixedDelay: a longer delay is almost certainly a typo,
// and it would hold a paused stream (and its memory) for that long.
const MaxDelay = time.Hour

// Fault is Istio's HTTPFaultInjection for one rule. Delay and abort are drawn
// independently, as Istio documents; when both hit, the request is delayed
// and then aborted, as Envoy's fault filter does.
type Fault struct {
	// HasDelay says a delay is configured.
	HasDelay bool
	// Delay is fixedDelay.
	Delay time.Duration
	// DelayPerMillion is the share of requests delayed, in parts per million.
	DelayPerMillion uint32

	// HasAbort says an abort is configured.
	HasAbort bool
	// AbortStatus is httpStatus, the status of the local response.
	AbortStatus uint32
	// AbortPerMillion is the share of requests aborted, in parts per million.
	AbortPerMillion uint32
}

// parseFault reads a rule's "fault" object.
func parseFault(v config.Value) *Fault {
	o := v.Object()
	f := &Fault{}
	if dv, ok := o.Get("delay"); ok {
		f.HasDelay = true
		do := dv.Object()
		if s, ok := do.Required("fixedDelay", ""); ok {
			f.Delay = parseDuration(s)
		}
		do.Unsupported("exponentialDelay", "Istio does not implement it either")
		f.DelayPerMillion = parsePercentage(do, true)
		do.Done()
	}
	if av, ok := o.Get("abort"); ok {
		f.HasAbort = true
		ao := av.Object()
		if s, ok := ao.Required("httpStatus", ""); ok {
			f.AbortStatus = uint32(s.Int(200, 599))
		}
		ao.Unsupported("grpcStatus", "only HTTP aborts are implemented")
		ao.Unsupported("http2Error", "only HTTP aborts are implemented")
		f.AbortPerMillion = parsePercentage(ao, false)
		ao.Done()
	}
	if !f.HasDelay && !f.HasAbort {
		v.Fail("a fault needs a delay, an abort or both")
	}
	o.Done()
	return f
}

// parsePercentage reads "percentage": {"value": 0..100}; absent means every
// request (Istio's documented default). Delay also accepts Istio's
// deprecated integer "percent".
func parsePercentage(o *config.Object, allowPercent bool) uint32 {
	pv, hasPercentage := o.Get("percentage")
	if allowPercent {
		if n, ok := o.Get("percent"); ok {
			if hasPercentage {
				n.Fail("give either percentage or the deprecated percent, not both")
			}
			return draw.PercentToPerMillion(float64(n.Int(0, 100)))
		}
	}
	if !hasPercentage {
		return draw.Million
	}
	po := pv.Object()
	value := po.Float("value", 0, 0, 100)
	po.Done()
	return draw.PercentToPerMillion(value)
}

// parseDuration reads a duration such as "7s", "1.5s" or "100ms" (protobuf's
// JSON form and Istio's documented 1h/1m/1s/1ms forms), at least 1ms as
// Istio requires.
func parseDuration(v config.Value) time.Duration {
	s := v.String()
	d, err := time.ParseDuration(s)
	switch {
	case s == "":
		v.Fail("empty duration")
	case err != nil:
		v.Fail("invalid duration %q (write e.g. \"7s\", \"1.5s\" or \"100ms\")", s)
	case d < time.Millisecond:
		v.Fail("duration %s is less than 1ms", s)
	case d > MaxDelay:
		v.Fail("duration %s is more than %s", s, MaxDelay)
	default:
		return d
	}
	return 0
}

package replay

import (
	"fmt"
	"math"
	"slices"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// Saturation is where the NIC stops keeping up with the capture's mix of
// frames, found in two ways that must agree: the utilization law (the rate at
// which the busiest resource is busy 100% of the time) and probes that offer
// the mix at fractions of that rate and watch whether transit times grow.
type Saturation struct {
	// Bottleneck names the busiest resource; Rate (frames/s) is the
	// offered rate at which it is 100% busy; Gbps the same rate in wire
	// bits (preamble, FCS, padding and IFG included) summed over both
	// directions, DataGbps in frame bytes as captured.
	Bottleneck     string
	Rate           float64
	Gbps, DataGbps float64
	// Frames is the probe size per point; Simulated all frames simulated.
	Frames, Simulated int
	Points            []ProbePoint
}

// ProbePoint is the mix offered at one rate.
type ProbePoint struct {
	// Fraction of the saturation rate, and the rate itself (frames/s).
	Fraction, Rate float64
	// MeanTransit is over all forwarded frames; Early and Late are the
	// mean transit of the second and last quarter of the frames (by
	// arrival): Late well above Early means the queue grows.
	MeanTransit, Early, Late model.Time
	// Utilization of the bottleneck at this rate.
	Utilization float64
	Drops       int
	Growing     bool
}

// probeFractions are the offered loads, as fractions of the utilization-law
// saturation rate, the probe simulates.
var probeFractions = []float64{0.5, 0.9, 0.98, 1.02, 1.1, 1.5}

// Probe finds the saturation point of mix (the capture's frames) by
// replaying n frames of it, the mix repeated as fresh connections, offered
// uniformly spaced: once at a low rate to measure each resource's work per
// frame (utilization law), then at fractions of the resulting rate.
func Probe(mix []sim.Input, tm *model.Timing, engines []engine.Engine, n int) (*Saturation, error) {
	if len(mix) == 0 {
		return nil, fmt.Errorf("probe: empty capture")
	}
	reps := (n + len(mix) - 1) / len(mix)
	in := make([]sim.Input, 0, reps*len(mix))
	var wireBytes, dataBytes float64
	for r := 0; r < reps; r++ {
		for _, x := range mix {
			x.Epoch = uint32(r)
			in = append(in, x)
			wireBytes += float64(model.CapturedWireBytes(x.Len))
			dataBytes += float64(x.Len)
		}
	}
	sat := &Saturation{Frames: len(in)}
	space := func(rate float64) {
		for i := range in {
			in[i].Time = model.Time(math.Round(float64(i) / rate * float64(model.Second)))
		}
	}
	runAt := func(rate float64) (*sim.Result, error) {
		space(rate)
		sat.Simulated += len(in)
		return sim.Run(in, sim.Options{Timing: tm, Engines: engines})
	}
	// Work per frame: at a rate far below any resource's capacity.
	ref, err := runAt(1e5)
	if err != nil {
		return nil, err
	}
	name, busy := bottleneck(&ref.Stats, tm.Config.Engine.Count)
	if busy <= 0 {
		return nil, fmt.Errorf("probe: no resource did any work")
	}
	sat.Bottleneck = name
	sat.Rate = float64(len(in)) / (float64(busy) / float64(model.Second))
	sat.Gbps = sat.Rate * wireBytes * 8 / float64(len(in)) / 1e9
	sat.DataGbps = sat.Rate * dataBytes * 8 / float64(len(in)) / 1e9
	for _, f := range probeFractions {
		rate := f * sat.Rate
		res, err := runAt(rate)
		if err != nil {
			return nil, err
		}
		pt := ProbePoint{Fraction: f, Rate: rate, Drops: res.Stats.DroppedTotal() - res.Stats.Dropped[sim.Malformed]}
		_, b := bottleneckNamed(&res.Stats, name, tm.Config.Engine.Count)
		dur := float64(in[len(in)-1].Time - in[0].Time)
		if dur > 0 {
			pt.Utilization = float64(b) / dur
		}
		pt.MeanTransit, pt.Early, pt.Late = quarterTransits(in, res)
		pt.Growing = pt.Late > pt.Early+max(pt.Early/10, 100*model.Nanosecond)
		sat.Points = append(sat.Points, pt)
	}
	return sat, nil
}

// bottleneck returns the resource with the most busy time; the engines
// count as one pool (busy time divided by their number), since any engine
// can take any message.
func bottleneck(st *sim.Stats, engines int) (string, model.Time) {
	best, bestBusy := "", model.Time(0)
	for _, name := range resourceNames(st) {
		if _, b := bottleneckNamed(st, name, engines); b > bestBusy {
			best, bestBusy = name, b
		}
	}
	return best, bestBusy
}

const enginePool = "engines (pool)"

func resourceNames(st *sim.Stats) []string {
	names := []string{enginePool}
	for k := range st.Busy {
		if len(k) < 7 || k[:7] != "engine " {
			names = append(names, k)
		}
	}
	slices.Sort(names[1:]) // deterministic order
	return names
}

func bottleneckNamed(st *sim.Stats, name string, engines int) (string, model.Time) {
	if name == enginePool {
		var sum model.Time
		for _, b := range st.Engine.Busy {
			sum += b
		}
		return name, sum / model.Time(engines)
	}
	return name, st.Busy[name]
}

// quarterTransits returns the mean transit of all forwarded frames, of the
// second quarter and of the last quarter (by arrival order).
func quarterTransits(in []sim.Input, res *sim.Result) (all, early, late model.Time) {
	mean := func(lo, hi int) model.Time {
		var sum model.Time
		n := 0
		for i := lo; i < hi; i++ {
			if res.Dropped[i] == sim.Forwarded {
				sum += res.Depart[i] - in[i].Time
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return sum / model.Time(n)
	}
	q := len(in) / 4
	return mean(0, len(in)), mean(q, 2*q), mean(3*q, len(in))
}

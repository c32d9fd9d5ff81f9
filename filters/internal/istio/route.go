package istio

import (
	"fmt"
	"strconv"

	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/draw"
	"github.com/nicrt/nicrt/filters/internal/routing"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Destination is one of a rule's HTTPRouteDestinations with its cluster name.
type Destination struct {
	// Host, Subset and Port are Istio's destination fields (Port 0: none).
	Host   string
	Subset string
	Port   uint32
	// Weight is the destination's share in percent (100 for a lone destination).
	Weight uint32
	// Cluster is the cluster name the routing header carries for it.
	Cluster string
}

// Rule is one entry of a VirtualService's http list.
type Rule struct {
	// Index is the rule's position in the http list.
	Index int
	// Label names the rule in metrics and logs: its name, or its index.
	Label string
	// Matches are the rule's match blocks; none means every request.
	Matches []Match
	// Route are the weighted destinations.
	Route []Destination
	// Fault is the rule's fault injection, nil if it has none.
	Fault *Fault

	weights draw.Weights
}

// Pick draws a destination index according to the weights.
func (r *Rule) Pick(src *draw.Source) int { return r.weights.Pick(src) }

// templates turns Istio destinations into cluster names.
type templates struct {
	withSubset, noSubset routing.Template
}

func (t templates) cluster(d *Destination) string {
	port := ""
	if d.Port != 0 {
		port = strconv.FormatUint(uint64(d.Port), 10)
	}
	if d.Subset == "" {
		return t.noSubset.Expand(d.Host, "", port)
	}
	return t.withSubset.Expand(d.Host, d.Subset, port)
}

// parseRoute reads a rule's "route" list and checks the weights like Istio:
// a lone destination gets all traffic; with several, weights are 0..100 and
// must sum to 100.
func parseRoute(v config.Value, t templates) ([]Destination, draw.Weights) {
	elems := v.Array()
	if len(elems) == 0 {
		v.Fail("at least one destination is required")
		return nil, draw.Weights{}
	}
	dests := make([]Destination, 0, len(elems))
	var sum int64
	weightGiven := false
	for _, e := range elems {
		o := e.Object()
		var d Destination
		if dv, ok := o.Required("destination", ""); ok {
			parseDestination(dv, &d)
		}
		if wv, ok := o.Get("weight"); ok {
			d.Weight = uint32(wv.Int(0, 100))
			weightGiven = true
		}
		sum += int64(d.Weight)
		o.Unsupported("headers", "header manipulation is not implemented by nicrt's filters")
		o.Done()
		d.Cluster = t.cluster(&d)
		if d.Host != "" {
			if err := routing.ClusterName(d.Cluster); err != nil {
				o.Fail("destination", "%v", err)
			}
		}
		dests = append(dests, d)
	}
	if len(dests) == 1 {
		dests[0].Weight = 100
	} else if sum != 100 {
		if weightGiven {
			v.Fail("destination weights sum to %d, must sum to 100", sum)
		} else {
			v.Fail("%d destinations need weights that sum to 100", len(dests))
		}
	}
	ws := make([]uint32, len(dests))
	for i := range dests {
		ws[i] = dests[i].Weight
	}
	w, err := draw.NewWeights(ws)
	if err != nil {
		w, _ = draw.NewWeights([]uint32{1}) // already reported above
	}
	return dests, w
}

func parseDestination(v config.Value, d *Destination) {
	o := v.Object()
	if hv, ok := o.Required("host", ""); ok {
		if d.Host = hv.String(); d.Host == "" {
			hv.Fail("must not be empty")
		}
	}
	d.Subset = o.String("subset", "")
	if pv, ok := o.Get("port"); ok {
		po := pv.Object()
		if nv, ok := po.Required("number", ""); ok {
			d.Port = uint32(nv.Int(1, 65535))
		}
		po.Done()
	}
	o.Done()
}

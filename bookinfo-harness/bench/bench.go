// Package bench runs nicrt's A/B latency sweeps: several deployments of
// Bookinfo ("series": local topologies, or an external URL such as a real
// Istio ingress) measured with package load at each connection level, the
// series interleaved — A B C, A B C, … — so that drift of a shared, noisy
// machine spreads over all of them instead of favouring whichever ran first.
// It summarizes the runs per series and connection level; package report
// writes them out.
package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/latency"
	"github.com/nicrt/nicrt/bookinfo-harness/load"
)

// Series is one deployment to measure.
type Series struct {
	// Name labels the series in tables and plots ("direct", "istio", ...).
	Name string `json:"name"`
	// URL is the page to load.
	URL string `json:"url"`
	// Topology is the nicrt topology, "" for an external deployment.
	Topology string `json:"topology,omitempty"`
	// Processes names the processes of a local deployment.
	Processes []string `json:"processes,omitempty"`
	// Filters are the Proxy-Wasm filters in the request path.
	Filters []FilterInfo `json:"filters,omitempty"`
	// NICModel is the simulated NIC's timing model, "" without a NIC.
	NICModel string `json:"nic_model,omitempty"`
	// NICModelConfig is that model with every parameter (YAML), so the
	// record does not depend on presets that may change.
	NICModelConfig string `json:"nic_model_config,omitempty"`
	// NICs are the simulated NICs' own accounts of the sweep, one per host
	// (everything they carried, warm-up included).
	NICs []NICReport `json:"nics,omitempty"`
}

// NICReport is what one host's simulated NIC says about how faithfully it
// ran its timing model. A message that leaves later than the model says
// (an underrun) means the host could not simulate the NIC fast enough: the
// NIC's latency then includes host overhead the model does not have.
type NICReport struct {
	Host  string `json:"host"`
	Model string `json:"model"`
	// Messages is how many HTTP messages the NIC released (both ways).
	Messages int64 `json:"messages"`
	// Underruns counts messages released later than the tolerance allows.
	Underruns   int64   `json:"underruns"`
	ToleranceUS float64 `json:"tolerance_us"`
	// Lateness of released messages against the model, in microseconds.
	LatenessP50US float64 `json:"lateness_p50_us"`
	LatenessP90US float64 `json:"lateness_p90_us"`
	LatenessMaxUS float64 `json:"lateness_max_us"`
	// FilterErrors counts requests a filter failed on; NICReplies
	// responses the NIC made itself (unknown cluster, unreachable upstream).
	FilterErrors int64 `json:"filter_errors"`
	NICReplies   int64 `json:"nic_replies"`
	// RequestsIn counts the requests that reached the host through the
	// NIC (at productpage: the pages served).
	RequestsIn int64 `json:"requests_in"`
	// ModeledUS is the time the modelled card itself added to everything
	// that crossed it (messages' and handshakes' modeled transit), in
	// microseconds: the model's figure, free of host overhead.
	ModeledUS float64 `json:"modeled_us"`
}

// FilterInfo records a filter of a series precisely enough to reproduce it.
type FilterInfo struct {
	Kind         string `json:"kind"`
	Source       string `json:"source"`
	ConfigSHA256 string `json:"config_sha256"`
	WasmSHA256   string `json:"wasm_sha256,omitempty"`
}

// Config is a sweep.
type Config struct {
	Series      []Series
	Connections []int
	// QPS is the target total rate per run; 0 means as fast as possible.
	QPS      float64
	Duration time.Duration
	Warmup   time.Duration
	// Repeat is how many times each series is measured at each level.
	Repeat int
	// Headers are extra request headers ("Name: value").
	Headers []string
	// Timeout bounds each request (0: fortio's default).
	Timeout time.Duration
}

// Check reports the first problem with c.
func (c *Config) Check() error {
	switch {
	case len(c.Series) == 0:
		return errors.New("nothing to measure")
	case len(c.Connections) == 0:
		return errors.New("no connection levels")
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: want more than 0", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %v: want 0 or more", c.Warmup)
	case c.Repeat < 1:
		return fmt.Errorf("repeat %d: want at least 1", c.Repeat)
	case c.QPS < 0:
		return fmt.Errorf("qps %v: want 0 (max) or more", c.QPS)
	}
	seen := map[string]bool{}
	for _, s := range c.Series {
		if s.Name == "" || seen[s.Name] {
			return fmt.Errorf("series name %q is empty or used twice", s.Name)
		}
		seen[s.Name] = true
	}
	for _, n := range c.Connections {
		if n < 1 {
			return fmt.Errorf("connection level %d: want at least 1", n)
		}
	}
	return nil
}

// Step is one measurement of the sweep, in the order they run.
type Step struct {
	Index       int    // 0-based position in the sweep
	Total       int    // number of steps
	Series      string // series name
	Connections int
	Repeat      int // 1-based
}

// Plan lists the steps of a sweep: for each connection level, Repeat rounds
// over every series in order.
func (c *Config) Plan() []Step {
	var steps []Step
	for _, n := range c.Connections {
		for r := 1; r <= c.Repeat; r++ {
			for _, s := range c.Series {
				steps = append(steps, Step{Series: s.Name, Connections: n, Repeat: r})
			}
		}
	}
	for i := range steps {
		steps[i].Index, steps[i].Total = i, len(steps)
	}
	return steps
}

// Run is one finished measurement.
type Run struct {
	Series      string            `json:"series"`
	Connections int               `json:"connections"`
	Repeat      int               `json:"repeat"`
	Start       time.Time         `json:"start"`
	ElapsedSec  float64           `json:"elapsed_s"`
	Requests    uint64            `json:"requests"`
	QPS         float64           `json:"qps"`
	Codes       map[int]uint64    `json:"codes"`
	Degraded    uint64            `json:"degraded"`
	Versions    map[string]uint64 `json:"versions"`
	Latency     latency.Histogram `json:"latency_us"`
}

// Errors counts the run's failed requests (no answer, not 200, or a page
// reporting an upstream failure).
func (r *Run) Errors() uint64 { return load.CountErrors(r.Codes, r.Degraded) }

// Sweep runs every step of c.Plan(). before, if set, is called as each step
// starts (for a progress display). When ctx ends Sweep returns the runs
// finished so far with ctx's error.
func Sweep(ctx context.Context, c Config, before func(Step)) ([]Run, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, s := range c.Series {
		urls[s.Name] = s.URL
	}
	var runs []Run
	for _, st := range c.Plan() {
		if err := ctx.Err(); err != nil {
			return runs, err
		}
		if before != nil {
			before(st)
		}
		res, err := load.Run(ctx, load.Options{
			URL: urls[st.Series], Connections: st.Connections, QPS: c.QPS,
			Duration: c.Duration, Warmup: c.Warmup, Timeout: c.Timeout, Headers: c.Headers,
		})
		if err != nil {
			if ctx.Err() != nil {
				return runs, ctx.Err() // a cut-short run is not kept
			}
			return runs, fmt.Errorf("%s at %d connections: %w", st.Series, st.Connections, err)
		}
		runs = append(runs, Run{
			Series: st.Series, Connections: st.Connections, Repeat: st.Repeat,
			Start: res.Start, ElapsedSec: res.Elapsed.Seconds(), Requests: res.Requests, QPS: res.ActualQPS,
			Codes: res.Codes, Degraded: res.Degraded, Versions: res.Versions, Latency: res.Latency,
		})
	}
	return runs, nil
}

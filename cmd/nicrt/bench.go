package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/bookinfo-harness/deploy"
	"github.com/nicrt/nicrt/bookinfo-harness/launch"
	"github.com/nicrt/nicrt/bookinfo-harness/report"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
	"github.com/nicrt/nicrt/nicsim/model"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure Bookinfo's latency in each topology (A/B sweeps, tables, plots)",
		usage: `[--topologies a,b,...] [--connections 1,2,4,...] [--qps N|max] [--duration D]
              [--warmup D] [--repeat K] [--out DIR] [--target [NAME=]URL]... [flags]

Deploys Bookinfo in each topology (every service and sidecar its own process),
loads /productpage with fortio's library at each connection level — the
topologies interleaved, A B C A B C ..., so drift of a busy machine spreads
over all of them — and writes results.json, results.csv, report.md and
p90-vs-connections.png/.svg to --out. --target adds an external deployment
(e.g. a real Istio ingress) measured the same way; with --target alone, only
the targets are measured.

Examples:
  nicrt bench --connections 1,4,16 --duration 5s
  nicrt bench --topologies direct,sidecar-both --repeat 3 --out results/ab
  nicrt bench --target istio=http://$INGRESS_HOST/productpage --connections 1,2,4,8
  nicrt bench --topologies direct --target istio=http://$INGRESS_HOST/productpage`,
		flags: benchFlags,
		run:   runBench,
	})
}

var benchOpts struct {
	topologies  []string
	connections []int
	qps         string
	duration    time.Duration
	warmup      time.Duration
	repeat      int
	out         string
	targets     []string
	baseline    string
	headers     []string
	timeout     time.Duration
	noProgress  bool
	from        string
	deploy      deployFlags
}

func benchFlags(fs *pflag.FlagSet) {
	o := &benchOpts
	fs.StringSliceVar(&o.topologies, "topologies", topology.All, "topologies to measure, in this order")
	fs.IntSliceVar(&o.connections, "connections", []int{1, 2, 4, 8, 16, 32, 64}, "connection levels (concurrent keep-alive connections)")
	fs.StringVar(&o.qps, "qps", "max", `total requests per second per run, or "max" for a closed loop (each connection sends as soon as it has its answer)`)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&o.repeat, "repeat", 1, "runs per topology and connection level (interleaved)")
	fs.StringVar(&o.out, "out", "results/bench", "directory for results.json, results.csv, report.md, the plots and the deployments' logs")
	fs.StringArrayVar(&o.targets, "target", nil, "also measure an external deployment, [NAME=]URL of its product page (repeatable; NAME defaults to the URL's host)")
	fs.StringVar(&o.baseline, "baseline", "direct", "series the ratios compare to (ignored when not measured)")
	fs.StringArrayVar(&o.headers, "header", nil, `extra request header "Name: value" (repeatable), e.g. a Host for an ingress`)
	fs.DurationVar(&o.timeout, "timeout", 0, "per-request timeout (default fortio's, 3s)")
	fs.BoolVar(&o.noProgress, "no-progress", false, "print one line per run instead of a progress bar")
	fs.StringVar(&o.from, "from", "", "measure nothing: rewrite the report, CSV and plots of an earlier results.json into --out (with --baseline)")
	o.deploy.register(fs)
}

// parseTarget reads a --target [NAME=]URL.
func parseTarget(arg string) (bench.Series, error) {
	name, raw, ok := strings.Cut(arg, "=")
	if !ok || strings.Contains(name, "/") || strings.Contains(name, ":") {
		name, raw = "", arg
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bench.Series{}, usagef("--target %q: want [NAME=]http://HOST[:PORT]/PATH", arg)
	}
	if name == "" {
		name = u.Host
	}
	return bench.Series{Name: name, URL: raw}, nil
}

func runBench(fs *pflag.FlagSet, args []string) error {
	o := &benchOpts
	if len(args) != 0 {
		return usagef("unexpected arguments %q", args)
	}
	if o.from != "" {
		return replot(o.from, o.out, o.baseline)
	}
	cfg := bench.Config{Connections: o.connections, Duration: o.duration, Warmup: o.warmup, Repeat: o.repeat, Headers: o.headers, Timeout: o.timeout}
	if o.qps != "max" {
		q, err := strconv.ParseFloat(o.qps, 64)
		if err != nil || q <= 0 {
			return usagef(`--qps %q: want a positive number or "max"`, o.qps)
		}
		cfg.QPS = q
	}
	var targets []bench.Series
	for _, t := range o.targets {
		s, err := parseTarget(t)
		if err != nil {
			return err
		}
		targets = append(targets, s)
	}
	explicit := fs.Changed("topologies")
	topos := o.topologies
	if len(targets) > 0 && !explicit {
		topos = nil
	}
	// Check what can be checked before anything starts.
	probe := cfg
	probe.Series = append([]bench.Series{}, targets...)
	for _, t := range topos {
		probe.Series = append(probe.Series, bench.Series{Name: t, URL: "http://x/"})
	}
	if err := probe.Check(); err != nil {
		return usagef("%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			fmt.Fprintln(os.Stderr, "\nnicrt bench: interrupted; stopping and writing what was measured")
			cancel()
		}
	}()

	res := &bench.Results{Format: bench.FormatVersion, Started: time.Now(), Machine: bench.CollectMachine(), Software: bench.CollectSoftware()}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	var deps []*deploy.Deployment
	stopAll := func() {
		for _, d := range deps {
			if err := d.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "nicrt bench: stopping %s: %v\n", d.Plan.Topology, err)
			}
		}
		deps = nil
	}
	defer stopAll()
	for _, t := range topos {
		dir := filepath.Join(o.out, "logs", t)
		opts, err := o.deploy.options(dir)
		if err != nil {
			return err
		}
		plan, err := topology.Build(t, opts)
		if err != nil {
			if topology.IsUnavailable(err) && !explicit {
				fmt.Fprintf(os.Stderr, "nicrt bench: skipping %s: %v\n", t, err)
				res.Skipped = append(res.Skipped, bench.Skipped{Name: t, Reason: err.Error()})
				continue
			}
			return usagef("%v", err)
		}
		fmt.Fprintf(os.Stderr, "nicrt bench: starting %s (%d processes)\n", t, len(plan.Procs))
		d, err := deploy.Up(ctx, plan, launch.Options{Bin: bin, Dir: dir, ReadyTimeout: o.deploy.readyTimeout})
		if err != nil {
			return err
		}
		deps = append(deps, d)
		cfg.Series = append(cfg.Series, seriesOf(plan, opts.WasmDir))
	}
	cfg.Series = append(cfg.Series, targets...)
	if len(cfg.Series) == 0 {
		return errors.New("nothing to measure: every topology asked for is unavailable in this build")
	}
	res.Series = cfg.Series
	res.Settings = bench.SettingsOf(cfg)
	for _, s := range cfg.Series {
		if s.Name == o.baseline {
			res.Baseline = o.baseline
		}
	}

	// A deployment whose process dies makes every later number wrong: stop.
	for _, d := range deps {
		go func() {
			select {
			case e := <-d.Group.Exited():
				fmt.Fprintf(os.Stderr, "\nnicrt bench: %s broke: %v\n", d.Plan.Topology, e)
				cancel()
			case <-ctx.Done():
			}
		}()
	}

	prog := newProgress(os.Stderr, cfg, !o.noProgress)
	runs, err := bench.Sweep(ctx, cfg, prog.step)
	prog.done()
	res.Runs, res.Finished = runs, time.Now()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	res.Interrupted = err != nil
	// The NICs write their accounts as their processes stop.
	plans := map[string]*topology.Plan{}
	for _, d := range deps {
		plans[d.Plan.Topology] = d.Plan
	}
	stopAll()
	for i := range res.Series {
		if p := plans[res.Series[i].Topology]; p != nil {
			res.Series[i].NICs = readNICReports(p)
		}
	}
	res.Summarize()
	if err := writeReport(o.out, res); err != nil {
		return err
	}
	if res.Interrupted {
		return exitError{130}
	}
	return nil
}

// replot rewrites the outputs of an earlier sweep.
func replot(from, out, baseline string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	res, err := bench.ReadResults(data)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	res.Baseline = ""
	for _, s := range res.Series {
		if s.Name == baseline {
			res.Baseline = baseline
		}
	}
	res.Summarize()
	return writeReport(out, res)
}

// writeReport writes every output file and prints the main table.
func writeReport(out string, res *bench.Results) error {
	if err := report.Write(out, res); err != nil {
		return err
	}
	fmt.Println()
	if res.Baseline != "" {
		fmt.Printf("p90 latency (ms) of GET /productpage, ratio to %s in parentheses:\n\n", res.Baseline)
	} else {
		fmt.Printf("p90 latency (ms) of GET /productpage:\n\n")
	}
	report.WriteTable(os.Stdout, res)
	if len(res.Projections()) > 0 {
		fmt.Printf("\nwith the modelled cards instead of their simulation (%s measured + each NIC series' modeled card time per page; report.md says how):\n\n", res.Baseline)
		report.WriteProjections(os.Stdout, res)
	}
	for _, s := range res.Skipped {
		fmt.Printf("\nnot measured: %s — %s", s.Name, s.Reason)
	}
	if len(res.Skipped) > 0 {
		fmt.Println()
	}
	fmt.Printf("\nreport: %s (plot %s, raw data %s)\n", filepath.Join(out, report.MDFile), filepath.Join(out, report.PNGFile), filepath.Join(out, report.JSONFile))
	return nil
}

// seriesOf describes a deployed plan for the results.
func seriesOf(p *topology.Plan, wasmDir string) bench.Series {
	s := bench.Series{Name: p.Topology, URL: p.Entry, Topology: p.Topology, NICModel: p.NICModel}
	if p.NICModel != "" {
		name := p.NICModel
		if name == "default" {
			name = model.DefaultPreset
		}
		if c, err := model.Load(name); err == nil {
			if y, err := c.YAML(); err == nil {
				s.NICModelConfig = string(y)
			}
		}
	}
	for _, pr := range p.Procs {
		s.Processes = append(s.Processes, pr.Name)
	}
	for _, f := range p.Filters {
		fi := bench.FilterInfo{Kind: f.Kind, Source: f.Source, ConfigSHA256: sha(f.Config)}
		if b, err := os.ReadFile(filepath.Join(wasmDir, f.Kind+".wasm")); err == nil {
			fi.WasmSHA256 = sha(b)
		}
		s.Filters = append(s.Filters, fi)
	}
	return s
}

// readNICReports reads the accounts a plan's NICs wrote when they stopped,
// in host order; a missing or unreadable one is reported and skipped.
func readNICReports(p *topology.Plan) []bench.NICReport {
	var out []bench.NICReport
	for _, pr := range p.Procs {
		path, ok := p.NICStats[pr.Name]
		if !ok {
			continue
		}
		var r bench.NICReport
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "nicrt bench: %s's NIC account: %v\n", pr.Name, err)
			continue
		}
		r.Host = pr.Name
		out = append(out, r)
	}
	return out
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

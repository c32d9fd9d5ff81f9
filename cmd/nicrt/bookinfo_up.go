package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/bookinfo-harness/deploy"
	"github.com/nicrt/nicrt/bookinfo-harness/launch"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

func init() {
	registerBookinfo(&command{
		name:    "up",
		summary: "run the whole application in a topology, one process per service and sidecar",
		usage:   "[--topology T] [--filter-config [KIND:]FILE]... [flags]",
		flags:   upFlags,
		run:     runUp,
	})
}

// deployFlags are the flags `bookinfo up` and `bench` share: how a topology
// is deployed.
type deployFlags struct {
	filterConfigs []string
	wasmDir       string
	nicModel      string
	hosts         string
	readyTimeout  time.Duration
}

func (d *deployFlags) register(fs *pflag.FlagSet) {
	*d = deployFlags{}
	fs.StringArrayVar(&d.filterConfigs, "filter-config", nil,
		"sidecar-both, nic-offload: run this filter configuration instead of the default lb round robin over reviews v1/v2/v3; [KIND:]FILE, KIND one of "+
			strings.Join(topology.FilterKinds, ", ")+" (default: the file's directory name, as in examples/route/reviews-jason-v2-v3.json); repeat for a chain")
	fs.StringVar(&d.wasmDir, "wasm-dir", "", "directory of the built filters, <kind>.wasm (default ./filters, else filters/ beside the nicrt binary's bin/)")
	fs.StringVar(&d.nicModel, "nic-model", "", "nic-*: NIC timing model, a preset or a model file (default: the NIC's default)")
	fs.StringVar(&d.hosts, "hosts", "127.0.10.1", "loopback address of the first host; the six hosts (productpage, details, reviews-v1..v3, ratings) take consecutive addresses")
	fs.DurationVar(&d.readyTimeout, "ready-timeout", 60*time.Second, "how long the processes may take to listen and the page to come out complete")
}

// options turns the flags into topology options.
func (d *deployFlags) options(dir string) (topology.Options, error) {
	o := topology.Options{NICModel: d.nicModel, Dir: dir, Have: binaryHas, WasmCacheDir: cacheDir()}
	base, err := netip.ParseAddr(d.hosts)
	if err != nil {
		return o, usagef("--hosts %q: %v", d.hosts, err)
	}
	o.Base = base
	for _, a := range d.filterConfigs {
		f, err := topology.ParseFilter(a)
		if err != nil {
			return o, usagef("--filter-config: %v", err)
		}
		o.Filters = append(o.Filters, f)
	}
	o.WasmDir = d.wasmDir
	if o.WasmDir == "" {
		o.WasmDir = defaultWasmDir()
	}
	return o, nil
}

// serveHasNIC is set by the file that gives `bookinfo serve` its simulated
// NIC flags, when the live NIC is part of this build.
var serveHasNIC bool

// binaryHas reports whether this nicrt binary — which runs every process of
// a plan — has a part a topology needs.
func binaryHas(part string) bool {
	switch part {
	case "sidecar":
		_, ok := commands["sidecar"]
		return ok
	case "nic":
		return serveHasNIC
	}
	return false
}

// defaultWasmDir finds the built filters: ./filters when it exists (the
// repository root), else filters/ next to the bin/ holding this binary.
func defaultWasmDir() string {
	if st, err := os.Stat("filters"); err == nil && st.IsDir() {
		return "filters"
	}
	if exe, err := os.Executable(); err == nil {
		return filepath.Join(filepath.Dir(filepath.Dir(exe)), "filters")
	}
	return "filters"
}

var up struct {
	topology    string
	logDir      string
	logRequests bool
	deploy      deployFlags
}

func upFlags(fs *pflag.FlagSet) {
	fs.StringVar(&up.topology, "topology", topology.Direct, "topology: "+strings.Join(topology.All, ", "))
	fs.StringVar(&up.logDir, "log-dir", "", "keep each process's output and the configuration files here (default: a temporary directory, removed after a clean stop)")
	fs.BoolVar(&up.logRequests, "log-requests", false, "have every service log each request with its x-request-id and end-user headers")
	up.deploy.register(fs)
}

func runUp(_ *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("unexpected arguments %q", args)
	}
	dir, temp := up.logDir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "nicrt-up-"); err != nil {
			return err
		}
		temp = true
	}
	opts, err := up.deploy.options(dir)
	if err != nil {
		return err
	}
	opts.LogRequests = up.logRequests
	plan, err := topology.Build(up.topology, opts)
	if err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		if strings.HasPrefix(err.Error(), "unknown topology") {
			return usagef("%v", err)
		}
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}

	// Ctrl-C or SIGTERM while starting aborts the start; afterwards it stops
	// the deployment.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "bookinfo up: starting %s (%d processes; logs in %s)\n", plan.Topology, len(plan.Procs), dir)
	d, err := deploy.Up(ctx, plan, launch.Options{Bin: bin, Dir: dir, ReadyTimeout: up.deploy.readyTimeout})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for i, p := range plan.Procs {
		fmt.Fprintf(tw, "  %s\tpid %d\t%s\n", p.Name, d.Group.Pids()[i], strings.Join(p.Ready, " "))
	}
	tw.Flush()
	for _, f := range plan.Filters {
		fmt.Printf("  filter %s: %s\n", f.Kind, f.Source)
	}
	// One line a script can wait for.
	fmt.Printf("entry: %s\n", plan.Entry)
	fmt.Fprintln(os.Stderr, "bookinfo up: running; Ctrl-C stops everything")

	var exitErr error
	select {
	case <-ctx.Done():
	case e := <-d.Group.Exited():
		exitErr = fmt.Errorf("a process of the deployment ended: %w", e)
	}
	stop()
	fmt.Fprintln(os.Stderr, "bookinfo up: stopping")
	if err := d.Stop(); err != nil && exitErr == nil {
		exitErr = err
	}
	if exitErr != nil {
		return fmt.Errorf("%w (logs kept in %s)", exitErr, dir)
	}
	if temp {
		os.RemoveAll(dir)
	}
	fmt.Fprintln(os.Stderr, "bookinfo up: stopped")
	return nil
}

func init() {
	bookinfoSubHelp["up"] = `
Each Bookinfo host (productpage, details, reviews-v1, -v2, -v3, ratings) gets
its own loopback address and free ports. Every service and every sidecar is
its own process (the NIC of nic-* topologies runs inside its host's service
process). "entry: URL" is printed once the product page comes out complete;
Ctrl-C (or SIGTERM) stops every process, and if this command is killed the
kernel kills them too.

Examples:
  nicrt bookinfo up                                   # direct: no proxy, reviews v3
  nicrt bookinfo up --topology sidecar-both           # lb round robin over reviews v1/v2/v3
  nicrt bookinfo up --topology sidecar-both --filter-config examples/route/reviews-jason-v2-v3.json
  nicrt bookinfo up --topology nic-offload --nic-model fpga-250mhz
`
}

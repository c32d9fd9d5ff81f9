// Package topology describes how nicrt deploys Bookinfo for a measurement:
// which OS processes run (each service, each sidecar), with which flags and
// configuration files, on which loopback "hosts", and which URL is the
// application's entry. A Plan is pure data; package launch runs it.
//
// Every topology gives each Bookinfo host (productpage, details, reviews-v1,
// -v2, -v3, ratings) its own loopback address, as each pod has its own IP in
// Kubernetes, and free ports chosen when the plan is made.
package topology

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nicrt/nicrt/bookinfo-harness/launch"
)

// The topologies, as DESIGN.md names them.
const (
	// Direct: no proxy; productpage calls reviews v3 alone, so nothing
	// balances load (the seed paper's docker-compose without Envoy).
	Direct = "direct"
	// SidecarInbound: an inbound sidecar process in front of each service.
	SidecarInbound = "sidecar-inbound"
	// SidecarBoth: each caller's outbound sidecar routes and balances (the
	// filters run there) and each callee's inbound sidecar receives.
	SidecarBoth = "sidecar-both"
	// NICPassthrough: each service's host has a simulated NIC, no filter.
	NICPassthrough = "nic-passthrough"
	// NICOffload: the filters of SidecarBoth run on the callers' NICs.
	NICOffload = "nic-offload"
)

// All lists the topologies in the order reports show them.
var All = []string{Direct, SidecarInbound, SidecarBoth, NICPassthrough, NICOffload}

// Options shape a plan.
type Options struct {
	// Base is the first host's loopback address; the others follow it
	// (productpage, details, reviews-v1, reviews-v2, reviews-v3, ratings).
	// The zero value means 127.0.10.1.
	Base netip.Addr
	// Port picks a free port on a host address; nil means FreePort.
	Port func(netip.Addr) (int, error)
	// Filters is the filter chain of sidecar-both's outbound sidecars and of
	// nic-offload's NICs, in order. Empty means DefaultFilters().
	Filters []Filter
	// WasmDir holds the built filters, <kind>.wasm (`make filters`).
	WasmDir string
	// WasmCacheDir, when set, is where the sidecars keep compiled filters,
	// so a filter is compiled once rather than once per sidecar and run.
	WasmCacheDir string
	// NICModel is the NIC timing model of nic-* topologies: a preset name
	// or a model file. "" means the NIC's default.
	NICModel string
	// LogRequests makes every service log each request with its
	// x-request-id and end-user headers (for tests; off when measuring).
	LogRequests bool
	// Dir is where the plan's configuration files will be written.
	Dir string
	// Have reports whether the nicrt binary that will run the plan has a
	// part of nicrt ("sidecar": the sidecar command; "nic": the NIC flags
	// of bookinfo serve). nil means it has everything.
	Have func(part string) bool
}

// Plan is one deployment of Bookinfo.
type Plan struct {
	// Topology is the topology's name.
	Topology string
	// Entry is the URL of the product page, where clients send requests.
	Entry string
	// Procs are the processes, in start order; a Spec without Path runs
	// the nicrt binary.
	Procs []launch.Spec
	// Files are written before the processes start.
	Files []File
	// Filters are the filters the plan runs, for the record ("" kinds and
	// nil when none).
	Filters []Filter
	// NICModel is the NIC model the plan runs, "" when there is no NIC.
	NICModel string
	// NICStats maps each host with a NIC to the file its NIC writes its
	// account of the run to (JSON, bench.NICReport) when it stops.
	NICStats map[string]string
}

// File is a configuration file a plan needs.
type File struct {
	Path string
	Data []byte
}

// UnavailableError says a topology needs a part of nicrt this build lacks.
type UnavailableError struct {
	Topology string
	Missing  string
}

// Error names the topology and the part it lacks.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("topology %s needs %s, which this build of nicrt does not have yet", e.Topology, e.Missing)
}

// IsUnavailable reports whether err is an UnavailableError.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// builders make each topology's plan.
var builders = map[string]func(b *builder) error{
	Direct:         buildDirect,
	SidecarInbound: buildSidecarInbound,
	SidecarBoth:    buildSidecarBoth,
	NICPassthrough: buildNICPassthrough,
	NICOffload:     buildNICOffload,
}

// need fails with an UnavailableError when the binary lacks a part.
func (b *builder) need(part, what string) error {
	if b.opts.Have != nil && !b.opts.Have(part) {
		return &UnavailableError{Topology: b.plan.Topology, Missing: what}
	}
	return nil
}

// Build makes the plan of the named topology.
func Build(name string, o Options) (*Plan, error) {
	f, ok := builders[name]
	if !ok {
		return nil, fmt.Errorf("unknown topology %q (known: %s)", name, strings.Join(All, ", "))
	}
	if !o.Base.IsValid() {
		o.Base = netip.AddrFrom4([4]byte{127, 0, 10, 1})
	}
	if !o.Base.Is4() || !o.Base.IsLoopback() {
		return nil, fmt.Errorf("host base address %s is not an IPv4 loopback address (127.0.0.0/8)", o.Base)
	}
	if b4 := o.Base.As4(); int(b4[3])+len(hosts) > 255 {
		return nil, fmt.Errorf("host base address %s leaves no room for %d hosts", o.Base, len(hosts))
	}
	if o.Port == nil {
		o.Port = FreePort
	}
	// Absolute, because the sidecar reads paths in its configuration
	// relative to the configuration file.
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	if len(o.Filters) == 0 {
		o.Filters = DefaultFilters()
	}
	b := &builder{opts: o, plan: &Plan{Topology: name}}
	if err := f(b); err != nil {
		return nil, err
	}
	return b.plan, nil
}

// The Bookinfo hosts, in address order.
const (
	hostProductpage = iota
	hostDetails
	hostReviewsV1
	hostReviewsV2
	hostReviewsV3
	hostRatings
)

var hosts = [...]string{"productpage", "details", "reviews-v1", "reviews-v2", "reviews-v3", "ratings"}

// builder accumulates a plan.
type builder struct {
	opts Options
	plan *Plan
}

// ip is a host's loopback address.
func (b *builder) ip(host int) netip.Addr {
	a := b.opts.Base.As4()
	a[3] += byte(host)
	return netip.AddrFrom4(a)
}

// addr picks a free port on a host and returns host:port.
func (b *builder) addr(host int) (string, error) {
	ip := b.ip(host)
	port, err := b.opts.Port(ip)
	if err != nil {
		return "", fmt.Errorf("no free port on %s (%s): %w", ip, hosts[host], err)
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), nil
}

// addrs picks one free address on each of the given hosts.
func (b *builder) addrs(hs ...int) (map[int]string, error) {
	m := map[int]string{}
	for _, h := range hs {
		a, err := b.addr(h)
		if err != nil {
			return nil, err
		}
		m[h] = a
	}
	return m, nil
}

// service adds a `nicrt bookinfo serve` process for a host.
func (b *builder) service(host int, listen string, extra ...string) {
	name := hosts[host]
	service, version, _ := strings.Cut(name, "-")
	args := []string{"bookinfo", "serve", "--service", service, "--listen", listen}
	if version != "" {
		args = append(args, "--version", version, "--podname", name)
	}
	if b.opts.LogRequests {
		args = append(args, "--log-requests")
	}
	args = append(args, extra...)
	b.plan.Procs = append(b.plan.Procs, launch.Spec{
		Name: name, Args: args, Ready: []string{listen},
		// reviews reports --podname, never the machine's HOSTNAME.
		Env: []string{"HOSTNAME="},
	})
}

// FreePort asks the kernel for a port on ip that is free now. Another
// program may take it before the planned process listens; the process then
// fails to start with "address already in use" and says so.
func FreePort(ip netip.Addr) (int, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return strconv.Atoi(port)
}

// buildDirect: every service calls the next one's own address; reviews is
// v3 alone.
//
//	client → productpage → details
//	                     → reviews-v3 → ratings
func buildDirect(b *builder) error {
	a, err := b.addrs(hostProductpage, hostDetails, hostReviewsV3, hostRatings)
	if err != nil {
		return err
	}
	b.service(hostRatings, a[hostRatings])
	b.service(hostDetails, a[hostDetails])
	b.service(hostReviewsV3, a[hostReviewsV3], "--ratings", a[hostRatings])
	b.service(hostProductpage, a[hostProductpage],
		"--details", a[hostDetails], "--reviews", a[hostReviewsV3], "--ratings", a[hostRatings])
	b.plan.Entry = "http://" + a[hostProductpage] + "/productpage"
	b.plan.Filters = nil
	return nil
}

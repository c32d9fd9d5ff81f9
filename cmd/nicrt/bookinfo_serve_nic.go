package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo"
	"github.com/nicrt/nicrt/nicsim/live"
	"github.com/nicrt/nicrt/nicsim/model"
)

// `nicrt bookinfo serve --nic` runs the host's simulated NIC inside the
// service process, where a card sits between the host's sockets and the
// wire: it wraps the service's listener (ingress) and the dialer of its
// upstream calls (egress), so every message the service receives or sends
// crosses the NIC's timing model and filters. The nic-* topologies of
// bookinfo-harness run services this way (docs/harness.md).

// serveNICFlags are the --nic* flags; on is --nic itself.
type serveNICFlags struct {
	on                 bool
	model, stats, pcap string
	filters, clusters  []string
	quiet              bool
	tolerance          time.Duration
	fs                 *pflag.FlagSet // to tell which flags were given
	nic                *live.NIC      // built by config, wrapped around the listener by wrap
	release            func()         // frees the filters' engines after the NIC closed
	pcapFile           *os.File
}

var serveNIC serveNICFlags

func init() {
	serveHasNIC = true
	registerServeHook(&serveHook{flags: serveNICFlagSet, config: serveNICConfig, wrap: serveNICWrap})
	bookinfoSubHelp["serve"] += serveNICHelp
}

const serveNICHelp = `
The simulated NIC (--nic; docs/harness.md, docs/nicsim.md):
  nicrt bookinfo serve --service ratings --listen 127.0.0.1:9084 --nic --nic-stats ratings.nic.json
  nicrt bookinfo serve --service productpage --listen 127.0.0.1:9080 --nic \
      --nic-filter filters/lb.wasm:@examples/lb/reviews-weighted-90-10.json \
      --nic-cluster details=127.0.0.1:9081 --nic-cluster ratings=127.0.0.1:9084 \
      --nic-cluster reviews-v1=127.0.0.1:9082 --nic-cluster reviews-v2=127.0.0.1:9083 \
      --nic-cluster reviews=127.0.0.1:9082,127.0.0.1:9083
  Upstreams named logically (details:9080 by default) go to the cluster the
  filters' routing header (x-nicrt-cluster) names, else to the cluster named
  by the request's host, else to the address dialed.
`

func serveNICFlagSet(fs *pflag.FlagSet) {
	serveNIC = serveNICFlags{fs: fs}
	fs.BoolVar(&serveNIC.on, "nic", false, "run the host's simulated NIC around the service: its listener (ingress) and its upstream dialer (egress)")
	fs.StringVar(&serveNIC.model, "nic-model", model.DefaultPreset, "NIC timing model: a preset ("+strings.Join(model.Presets(), ", ")+") or a YAML/JSON file")
	fs.StringArrayVar(&serveNIC.filters, "nic-filter", nil, "Proxy-Wasm filter FILE.wasm[:CONFIG|:@CONFIGFILE] on the NIC's engines, for the messages of both directions (repeatable, in chain order); default: pass-through engines")
	fs.StringArrayVar(&serveNIC.clusters, "nic-cluster", nil, "egress cluster NAME=HOST:PORT[,HOST:PORT...] that the routing header or a request's host may name; endpoints in turn (repeatable)")
	fs.StringVar(&serveNIC.pcap, "nic-pcap", "", "write every frame that left the NIC, stamped with its simulated departure, to this pcap")
	fs.StringVar(&serveNIC.stats, "nic-stats", "", "at exit, write the NIC's account (messages, underruns, lateness; what nicrt bench collects) to this file as JSON")
	fs.BoolVar(&serveNIC.quiet, "nic-quiet", false, "do not write the NIC's summary to standard error at exit")
	fs.DurationVar(&serveNIC.tolerance, "nic-tolerance", live.DefaultTolerance, "lateness beyond which a message the NIC released counts as an underrun")
}

// serveNICConfig checks the NIC flags, builds the NIC and routes the
// service's upstream connections through it.
func serveNICConfig(cfg *bookinfo.Config) error {
	o := &serveNIC
	if !o.on {
		var given []string
		o.fs.Visit(func(f *pflag.Flag) {
			if strings.HasPrefix(f.Name, "nic-") {
				given = append(given, "--"+f.Name)
			}
		})
		if len(given) > 0 {
			return usagef("%s: only with --nic", strings.Join(given, ", "))
		}
		return nil
	}
	if serve.outbound != "" {
		return usagef("--nic and --outbound exclude each other: the NIC is the host's way out")
	}
	if host, _, err := net.SplitHostPort(serve.listen); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.Unmap().Is4() && !ip.IsUnspecified() {
			return usagef("--nic with --listen %s: the NIC's frames are IPv4, listen on an IPv4 address", serve.listen)
		}
	}
	if o.tolerance <= 0 {
		return usagef("--nic-tolerance %v: must be positive", o.tolerance)
	}
	clusters, err := parseNICClusters(o.clusters)
	if err != nil {
		return err
	}
	specs, err := parseFilterSpecs("--nic-filter", o.filters)
	if err != nil {
		return usagef("%v", err)
	}
	m, err := model.Load(o.model)
	if err != nil {
		return fmt.Errorf("--nic-model %s: %w", o.model, err)
	}
	opt := live.Options{Model: m, Clusters: clusters, Tolerance: o.tolerance, HostIP: listenIPv4(serve.listen),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if len(specs) > 0 {
		// One engine set for both directions: the card has one pipeline.
		if opt.Engines, opt.PausingFilters, o.release, err = liveNICEngines(specs, m.Engine.Count); err != nil {
			return err
		}
	}
	if o.pcap != "" {
		if o.pcapFile, err = os.Create(o.pcap); err != nil {
			o.cleanup()
			return fmt.Errorf("--nic-pcap: %w", err)
		}
		opt.Capture = o.pcapFile
	}
	if o.nic, err = live.New(opt); err != nil {
		o.cleanup()
		return fmt.Errorf("--nic: %w", err)
	}
	cfg.DialContext = o.nic.DialContext
	fmt.Fprintf(os.Stderr, "bookinfo %s: simulated NIC (model %s, %s, %d clusters)\n", serve.service, m.Name, describeFilters(specs), len(clusters))
	return nil
}

// describeFilters names the filter chain for a log line.
func describeFilters(specs []filterSpec) string {
	if len(specs) == 0 {
		return "pass-through engines"
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Path
	}
	return "filters " + strings.Join(names, ", ")
}

// cleanup frees what config built when it cannot finish.
func (o *serveNICFlags) cleanup() {
	if o.release != nil {
		o.release()
	}
	if o.pcapFile != nil {
		o.pcapFile.Close()
	}
}

// serveNICWrap puts the NIC in front of the service's listener; after
// serving it closes the NIC and writes its account.
func serveNICWrap(ln net.Listener, h http.Handler) (net.Listener, http.Handler, func() error, error) {
	if !serveNIC.on {
		return ln, h, nil, nil
	}
	return serveNIC.nic.Listener(ln), h, serveNIC.finish, nil
}

// finish closes the NIC (the service has stopped: connections still open
// are reset), then writes its summary and its account.
func (o *serveNICFlags) finish() error {
	var errs []error
	if err := o.nic.Close(); err != nil {
		errs = append(errs, fmt.Errorf("--nic-pcap %s: %w", o.pcap, err))
	}
	if o.release != nil {
		o.release()
	}
	if o.pcapFile != nil {
		if err := o.pcapFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--nic-pcap %s: %w", o.pcap, err))
		}
	}
	st := o.nic.Stats()
	if !o.quiet {
		// The summary is for a person reading the log; its failure to
		// write (a closed stderr) is not the run's failure.
		_ = st.WriteSummary(os.Stderr)
	}
	if o.stats != "" {
		if err := writeNICReport(o.stats, nicReport(serve.service, &st)); err != nil {
			errs = append(errs, fmt.Errorf("--nic-stats: %w", err))
		}
	}
	return errors.Join(errs...)
}

// nicReport is the account `nicrt bench` collects from each NIC.
func nicReport(host string, st *live.Stats) bench.NICReport {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return bench.NICReport{
		Host: host, Model: st.Model,
		Messages: st.Messages[0] + st.Messages[1], Underruns: st.Underruns, ToleranceUS: us(st.Tolerance),
		LatenessP50US: us(st.MessageLateness.P50), LatenessP90US: us(st.MessageLateness.P90), LatenessMaxUS: us(st.MessageLateness.Max),
		FilterErrors: st.FilterErrors, NICReplies: st.NICReplies,
		RequestsIn: st.Requests[1], ModeledUS: us(st.Modeled),
	}
}

func writeNICReport(path string, r bench.NICReport) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// parseNICClusters reads --nic-cluster NAME=HOST:PORT[,HOST:PORT...].
func parseNICClusters(args []string) (map[string][]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	clusters := make(map[string][]string, len(args))
	for _, a := range args {
		name, list, ok := strings.Cut(a, "=")
		if !ok || name == "" || list == "" {
			return nil, usagef("--nic-cluster %q: want NAME=HOST:PORT[,HOST:PORT...]", a)
		}
		if _, dup := clusters[name]; dup {
			return nil, usagef("--nic-cluster %q: cluster %q is already given", a, name)
		}
		eps := strings.Split(list, ",")
		for _, ep := range eps {
			host, port, err := net.SplitHostPort(ep)
			if err == nil && host == "" {
				err = errors.New("no host")
			}
			if err == nil {
				_, err = strconv.ParseUint(port, 10, 16)
			}
			if err != nil {
				return nil, usagef("--nic-cluster %q: endpoint %q: want HOST:PORT (%v)", a, ep, err)
			}
		}
		clusters[name] = eps
	}
	return clusters, nil
}

// listenIPv4 is the host's IPv4 address when the listen address names one
// (the address the NIC's egress frames carry); the zero Addr otherwise,
// which leaves the NIC's default.
func listenIPv4(listen string) netip.Addr {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().Is4() || ip.IsUnspecified() {
		return netip.Addr{}
	}
	return ip.Unmap()
}

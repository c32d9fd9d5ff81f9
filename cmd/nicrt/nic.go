package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/pcapio"
	"github.com/nicrt/nicrt/nicsim/replay"
)

// `nicrt nic` fronts the simulated SmartNIC. It has modes: `replay` (this
// file) replays a capture offline; the live relay (`nicrt nic --listen ADDR
// --upstream ADDR ...`) lives in its own file and registers itself as the
// default mode with registerNICMode. Flags every mode shares (--model,
// --filter) are declared here; each mode declares its own.

// nicMode is one way to run the NIC.
type nicMode struct {
	// name is the first argument that selects the mode; "" is the mode run
	// when the first argument names no mode (the live relay).
	name    string
	summary string
	usage   string
	flags   func(fs *pflag.FlagSet)
	run     func(fs *pflag.FlagSet, args []string, common *nicCommon) error
}

var nicModes = map[string]*nicMode{}

// nicCmd is the registered `nic` command, whose usage lists the modes.
var nicCmd *command

// registerNICMode adds a mode; call it from init. Files' init functions run
// in file name order, so the usage is refreshed whenever a mode arrives.
func registerNICMode(m *nicMode) {
	if _, dup := nicModes[m.name]; dup {
		panic("nicrt nic: duplicate mode " + m.name)
	}
	nicModes[m.name] = m
	if nicCmd != nil {
		nicCmd.usage = nicUsage()
	}
}

// nicCommon holds the flags every mode shares, resolved.
type nicCommon struct {
	modelArg string
	filters  []string
}

// Model loads the --model preset or file.
func (c *nicCommon) Model() (model.Config, error) { return model.Load(c.modelArg) }

// filterSpec is one --filter FILE.wasm[:CONFIG|:@FILE]: a Proxy-Wasm module
// and the plugin configuration passed to its proxy_on_configure.
type filterSpec struct {
	Path   string
	Config string
	// Flag is the flag the spec came from ("--filter", "--nic-filter"), so
	// that an error loading it names the flag.
	Flag string
}

// parseFilterSpec reads one FILE.wasm[:CONFIG|:@FILE] given to flag. The
// configuration is the text after the first colon, or with '@' the contents
// of the file it names (curl's convention, as in --config).
func parseFilterSpec(flag, s string) (filterSpec, error) {
	path, cfg, _ := strings.Cut(s, ":")
	if path == "" {
		return filterSpec{}, fmt.Errorf("%s %q: want FILE.wasm[:CONFIG|:@FILE]", flag, s)
	}
	if !strings.HasSuffix(path, ".wasm") {
		return filterSpec{}, fmt.Errorf("%s %q: %q is not a .wasm file (want FILE.wasm[:CONFIG|:@FILE])", flag, s, path)
	}
	if _, err := os.Stat(path); err != nil {
		return filterSpec{}, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	if strings.HasPrefix(cfg, "@") {
		b, err := readArg(cfg)
		if err != nil {
			return filterSpec{}, fmt.Errorf("%s %q: configuration: %w", flag, s, err)
		}
		cfg = string(b)
	}
	return filterSpec{Path: path, Config: cfg, Flag: flag}, nil
}

// parseFilterSpecs parses every value of a repeatable filter flag.
func parseFilterSpecs(flag string, values []string) ([]filterSpec, error) {
	specs := make([]filterSpec, 0, len(values))
	for _, s := range values {
		f, err := parseFilterSpec(flag, s)
		if err != nil {
			return nil, err
		}
		specs = append(specs, f)
	}
	return specs, nil
}

// nicEngines builds the NIC's n engines running the given filters. It is
// nil until the Proxy-Wasm runtime is wired in (a cmd/nicrt/nic_*.go file
// that sets it in its init, with an engine.Engine over runtime streams);
// until then --filter is refused with a clear error.
var nicEngines func(filters []filterSpec, n int) ([]engine.Engine, error)

// Engines resolves --filter into an engine factory for the replay; nil
// (pass-through) when no filter is given.
func (c *nicCommon) Engines() (func(n int) ([]engine.Engine, error), error) {
	if len(c.filters) == 0 {
		return nil, nil
	}
	specs, err := c.specs()
	if err != nil {
		return nil, err
	}
	if nicEngines == nil {
		return nil, errors.New("--filter is not yet wired: the NIC's engines are not yet connected to the Proxy-Wasm runtime (runtime/); " +
			"replay without --filter for the pass-through NIC")
	}
	return func(n int) ([]engine.Engine, error) { return nicEngines(specs, n) }, nil
}

// specs parses every --filter.
func (c *nicCommon) specs() ([]filterSpec, error) { return parseFilterSpecs("--filter", c.filters) }

func init() {
	common := &nicCommon{}
	registerNICMode(&nicMode{
		name:    "replay",
		summary: "replay a capture through the simulated NIC in simulated time",
		usage:   "replay IN.pcap -o OUT.pcap [--model FILE|PRESET] [--filter FILE.wasm[:CONFIG]]... [--host IP] [--probe-frames N]",
		flags: func(fs *pflag.FlagSet) {
			fs.StringP("output", "o", "", "replay: write the frames as they leave the NIC, with simulated timestamps, to this pcap")
			fs.String("host", "", "replay: IPv4 address of the host behind the NIC (default: the server of the first connection)")
			fs.Int("probe-frames", 20000, "replay: frames per saturation probe; -1 skips the probe")
		},
		run: runNICReplay,
	})
	nicCmd = &command{
		name:    "nic",
		summary: "run the simulated FPGA SmartNIC (offline replay; live relay)",
		usage:   nicUsage(),
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&common.modelArg, "model", model.DefaultPreset,
				"timing model: a preset ("+strings.Join(model.Presets(), ", ")+") or a YAML/JSON file")
			fs.StringArrayVar(&common.filters, "filter", nil, "Proxy-Wasm filter FILE.wasm[:CONFIG|:@CONFIGFILE] to run on the NIC's engines (repeatable, in chain order)")
			fs.Bool("print-model", false, "print the resolved timing model as YAML and exit")
			for _, name := range nicModeNames() {
				if f := nicModes[name].flags; f != nil {
					f(fs)
				}
			}
		},
		run: func(fs *pflag.FlagSet, args []string) error {
			if p, _ := fs.GetBool("print-model"); p {
				c, err := common.Model()
				if err != nil {
					return err
				}
				out, err := c.YAML()
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(out)
				return err
			}
			if len(args) > 0 {
				if m, ok := nicModes[args[0]]; ok && m.name != "" {
					return m.run(fs, args[1:], common)
				}
			}
			if m, ok := nicModes[""]; ok {
				return m.run(fs, args, common)
			}
			if len(args) > 0 {
				return usagef("unknown mode %q", args[0])
			}
			return usagef("the live relay (--listen/--upstream) is not available in this build; use 'nicrt nic replay'")
		},
	}
	register(nicCmd)
}

func nicModeNames() []string {
	names := make([]string, 0, len(nicModes))
	for n := range nicModes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// nicUsage is the synopsis of every registered mode. Modes register in
// init, which runs before the first help is printed.
func nicUsage() string {
	return "<mode> [flags]\n\nModes:\n" + nicModesHelp()
}

func nicModesHelp() string {
	var b strings.Builder
	for _, n := range []string{"replay", ""} {
		if m, ok := nicModes[n]; ok {
			fmt.Fprintf(&b, "  nicrt nic %s\n      %s\n", m.usage, m.summary)
		}
	}
	b.WriteString("\nThe model's numbers and their sources: docs/nicsim.md.")
	return b.String()
}

func runNICReplay(fs *pflag.FlagSet, args []string, common *nicCommon) error {
	if len(args) != 1 {
		return usagef("replay takes one input capture, got %d arguments", len(args))
	}
	in := args[0]
	out, _ := fs.GetString("output")
	if out == "" {
		return usagef("replay needs -o OUT.pcap")
	}
	if filepath.Clean(out) == filepath.Clean(in) {
		return usagef("-o %s would overwrite the input capture", out)
	}
	probe, _ := fs.GetInt("probe-frames")
	if probe == 0 || probe < -1 {
		return usagef("--probe-frames must be positive, or -1 to skip the probe (got %d)", probe)
	}
	c, err := common.Model()
	if err != nil {
		return err
	}
	engines, err := common.Engines()
	if err != nil {
		return err
	}
	opt := replay.Options{Model: c, Engines: engines, ProbeFrames: probe}
	if h, _ := fs.GetString("host"); h != "" {
		if opt.Host, err = netip.ParseAddr(h); err != nil || !opt.Host.Is4() {
			return usagef("--host %q is not an IPv4 address", h)
		}
	}
	recs, err := pcapio.ReadFile(in)
	if err != nil {
		return err
	}
	rep, frames, err := replay.Run(recs, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := pcapio.WriteFile(out, frames); err != nil {
		return err
	}
	fmt.Printf("nicrt nic replay: %s → %s (%d frames written)\n", in, out, len(frames))
	if err := rep.WriteText(os.Stdout); err != nil {
		return err
	}
	fmt.Println()
	return rep.WriteHostTime(os.Stdout)
}

// Package model is the SmartNIC timing model: one configuration, stated in
// physical units (clock, cycles, nanoseconds, Gb/s), that says how long every
// part of the simulated NIC takes. The simulator (package nicsim/sim) only
// evaluates it; every number it uses comes from here, and docs/nicsim.md names
// the source of every default.
package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole timing model. The zero value is not valid: start from a
// preset (Preset, Default) or load a file (Load), which fills unset fields
// from the preset the file names as its base.
type Config struct {
	// Name identifies the model in reports ("fpga-250mhz", or the file's).
	Name string `yaml:"name" json:"name"`
	// Base names the preset a config file starts from; fields the file sets
	// override it. Empty means the default preset.
	Base string `yaml:"base,omitempty" json:"base,omitempty"`

	// ClockMHz is the clock of the NIC's packet pipeline (every Stages entry
	// and the engine dispatch are counted in cycles of it).
	ClockMHz float64 `yaml:"clock_mhz" json:"clock_mhz"`
	// DatapathBytes is the width of the pipeline's streaming bus: a frame of
	// n bytes occupies a stage for ceil(n/DatapathBytes) cycles (its beats),
	// which bounds each stage's throughput.
	DatapathBytes int `yaml:"datapath_bytes" json:"datapath_bytes"`
	// LineRateGbps is the Ethernet port speed; each frame occupies the wire
	// for its bytes plus FCS, padding to 64 B, preamble+SFD and inter-frame gap.
	LineRateGbps float64 `yaml:"line_rate_gbps" json:"line_rate_gbps"`
	// MACPHYLatencyNs is the fixed latency of the PHY and MAC hard logic in
	// each direction (serdes, PCS, FEC), outside the user-clock pipeline.
	MACPHYLatencyNs float64 `yaml:"mac_phy_latency_ns" json:"mac_phy_latency_ns"`

	// PCIe is the DMA path between the NIC and host memory.
	PCIe PCIe `yaml:"pcie" json:"pcie"`
	// Stages are the pipeline stages' depths in NIC clock cycles.
	Stages Stages `yaml:"stages" json:"stages"`
	// Engine describes the wasm engines that run the filters.
	Engine Engine `yaml:"engine" json:"engine"`
}

// PCIe models one DMA transfer per frame between the NIC and host memory.
type PCIe struct {
	// DMALatencyNs is the latency of one DMA transfer (descriptor fetch and
	// data movement, host memory round trip).
	DMALatencyNs float64 `yaml:"dma_latency_ns" json:"dma_latency_ns"`
	// Gbps is the effective DMA bandwidth after encoding and TLP overhead; a
	// frame occupies the link for its bytes at this rate.
	Gbps float64 `yaml:"gbps" json:"gbps"`
}

// Stages are the cycle counts (pipeline depth) of each stage of the packet
// pipeline: the time the first beat of a frame takes to cross the stage.
type Stages struct {
	// MACRX moves a received frame from the MAC into the user clock domain
	// and checks its FCS.
	MACRX int `yaml:"mac_rx" json:"mac_rx"`
	// Parser extracts and checks the Ethernet, IPv4 and TCP headers.
	Parser int `yaml:"parser" json:"parser"`
	// FlowTable looks the 5-tuple up in the flow table.
	FlowTable int `yaml:"flow_table" json:"flow_table"`
	// Reassembly places the payload in the flow's byte stream.
	Reassembly int `yaml:"reassembly" json:"reassembly"`
	// Dispatch hands a framed message to an engine (plus one cycle per
	// datapath beat of the message, which the engine reads in).
	Dispatch int `yaml:"dispatch" json:"dispatch"`
	// Deparser re-emits the frame.
	Deparser int `yaml:"deparser" json:"deparser"`
	// MACTX hands the frame to the MAC for transmission.
	MACTX int `yaml:"mac_tx" json:"mac_tx"`
}

// Queue policies: what happens to a message that finds every engine queue full.
const (
	// PolicyDrop drops the message (and the frames that carry it), as a NIC
	// drops on a full receive queue.
	PolicyDrop = "drop"
	// PolicyBackpressure holds the message in the reassembly stage, which
	// stops emitting for that direction until an engine queue has room.
	PolicyBackpressure = "backpressure"
)

// Engine cost modes.
const (
	// CostInstructions charges executed wasm instructions × cycles per
	// instruction at the engine clock: deterministic, the default.
	CostInstructions = "instructions"
	// CostHostScaled charges the host time the filter took × HostScale. It is
	// not deterministic and exists only to compare against the instruction
	// model.
	CostHostScaled = "host-scaled"
)

// Engine describes the wasm engines: how many, their queues and their cost.
type Engine struct {
	// Count is the number of engines working in parallel.
	Count int `yaml:"count" json:"count"`
	// QueueDepth is how many messages may wait in each engine's FIFO (not
	// counting the one it is running).
	QueueDepth int `yaml:"queue_depth" json:"queue_depth"`
	// QueuePolicy is PolicyDrop or PolicyBackpressure.
	QueuePolicy string `yaml:"queue_policy" json:"queue_policy"`
	// ClockMHz is the engines' clock; it may differ from the pipeline's
	// (e.g. the ARM cores of a DPU).
	ClockMHz float64 `yaml:"clock_mhz" json:"clock_mhz"`
	// CyclesPerInstruction is the mean engine cycles one executed wasm
	// instruction costs.
	CyclesPerInstruction float64 `yaml:"cycles_per_instruction" json:"cycles_per_instruction"`
	// PerMessageCycles is a fixed cost per HTTP message in engine cycles
	// (software dispatch on a CPU-based NIC, or a proxy's fixed cost).
	PerMessageCycles int64 `yaml:"per_message_cycles" json:"per_message_cycles"`
	// Cost is CostInstructions (default) or CostHostScaled.
	Cost string `yaml:"cost" json:"cost"`
	// HostScale multiplies measured host time when Cost is CostHostScaled.
	HostScale float64 `yaml:"host_scale" json:"host_scale"`
}

// DefaultPreset is the preset used when no model is named.
const DefaultPreset = "fpga-250mhz"

var presets = map[string]func() Config{
	"fpga-250mhz":       fpga250,
	"passthrough-100us": passthrough100us,
	"arm-dpu":           armDPU,
}

// Presets lists the preset names, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the named preset; docs/nicsim.md explains each number.
func Preset(name string) (Config, error) {
	p, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown preset %q (presets: %s)", name, strings.Join(Presets(), ", "))
	}
	return p(), nil
}

// Default returns the default preset, fpga-250mhz.
func Default() Config { return fpga250() }

// fpga250 is an FPGA SmartNIC in the style of an AMD Alveo card: a 512-bit
// pipeline at the 250 MHz user clock, a 100 GbE port, PCIe Gen3 x16.
func fpga250() Config {
	return Config{
		Name:            "fpga-250mhz",
		ClockMHz:        250,
		DatapathBytes:   64,
		LineRateGbps:    100,
		MACPHYLatencyNs: 100,
		PCIe:            PCIe{DMALatencyNs: 800, Gbps: 100},
		Stages: Stages{
			MACRX: 8, Parser: 12, FlowTable: 10, Reassembly: 16,
			Dispatch: 32, Deparser: 12, MACTX: 8,
		},
		Engine: Engine{
			Count: 4, QueueDepth: 64, QueuePolicy: PolicyDrop,
			ClockMHz: 250, CyclesPerInstruction: 1, PerMessageCycles: 0,
			Cost: CostInstructions, HostScale: 1,
		},
	}
}

// passthrough100us reproduces the seed paper's pass-through SmartNIC: a curl
// exchange through it took 0.1 ms longer (4.0 → 4.1 ms). The FPGA pipeline
// is kept; a fixed per-message proxy cost makes up the rest (docs/nicsim.md
// works the sum).
func passthrough100us() Config {
	c := fpga250()
	c.Name = "passthrough-100us"
	c.Engine.PerMessageCycles = 11815 // 47.26 µs per HTTP message at 250 MHz
	return c
}

// armDPU is a BlueField-2-like DPU: the packet pipeline is the NIC ASIC's,
// the filters run on general-purpose ARM cores.
func armDPU() Config {
	c := fpga250()
	c.Name = "arm-dpu"
	c.Engine = Engine{
		Count: 8, QueueDepth: 256, QueuePolicy: PolicyDrop,
		ClockMHz: 2500, CyclesPerInstruction: 3, PerMessageCycles: 5000,
		Cost: CostInstructions, HostScale: 1,
	}
	return c
}

// Load reads a model: a preset name, or a YAML or JSON file (JSON is YAML).
// A file's fields override its base preset (field "base", default
// fpga-250mhz); unknown fields are errors that name the field and line.
func Load(nameOrPath string) (Config, error) {
	if _, ok := presets[nameOrPath]; ok {
		return Preset(nameOrPath)
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(nameOrPath, "./") {
			return Config{}, fmt.Errorf("model: %q is neither a preset (%s) nor a file", nameOrPath, strings.Join(Presets(), ", "))
		}
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", nameOrPath, err)
	}
	if c.Name == "" {
		c.Name = nameOrPath
	}
	return c, nil
}

// Parse decodes a model from YAML or JSON bytes on top of its base preset
// and validates it.
func Parse(data []byte) (Config, error) {
	var head struct {
		Base string `yaml:"base"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	base := head.Base
	if base == "" {
		base = DefaultPreset
	}
	c, err := Preset(base)
	if err != nil {
		return Config{}, fmt.Errorf("model: base: %w", err)
	}
	c.Name = ""
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c.Base = base
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every field's range; the error names the field (its YAML
// path) and the value that was wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("model: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	posf := func(field string, v, max float64) {
		if !(v > 0) || v > max {
			bad(field, "must be > 0 and ≤ %g (got %g)", max, v)
		}
	}
	nonneg := func(field string, v float64, max float64) {
		if !(v >= 0) || v > max {
			bad(field, "must be ≥ 0 and ≤ %g (got %g)", max, v)
		}
	}
	posf("clock_mhz", c.ClockMHz, 10000)
	if c.DatapathBytes < 1 || c.DatapathBytes > 4096 {
		bad("datapath_bytes", "must be 1..4096 (got %d)", c.DatapathBytes)
	}
	posf("line_rate_gbps", c.LineRateGbps, 1600)
	nonneg("mac_phy_latency_ns", c.MACPHYLatencyNs, 1e6)
	nonneg("pcie.dma_latency_ns", c.PCIe.DMALatencyNs, 1e6)
	posf("pcie.gbps", c.PCIe.Gbps, 10000)
	for _, s := range []struct {
		name string
		v    int
	}{
		{"stages.mac_rx", c.Stages.MACRX}, {"stages.parser", c.Stages.Parser},
		{"stages.flow_table", c.Stages.FlowTable}, {"stages.reassembly", c.Stages.Reassembly},
		{"stages.dispatch", c.Stages.Dispatch}, {"stages.deparser", c.Stages.Deparser},
		{"stages.mac_tx", c.Stages.MACTX},
	} {
		if s.v < 0 || s.v > 1_000_000 {
			bad(s.name, "must be 0..1000000 cycles (got %d)", s.v)
		}
	}
	e := &c.Engine
	if e.Count < 1 || e.Count > 4096 {
		bad("engine.count", "must be 1..4096 (got %d)", e.Count)
	}
	if e.QueueDepth < 0 || e.QueueDepth > 1<<20 {
		bad("engine.queue_depth", "must be 0..%d (got %d)", 1<<20, e.QueueDepth)
	}
	if e.QueuePolicy != PolicyDrop && e.QueuePolicy != PolicyBackpressure {
		bad("engine.queue_policy", "must be %q or %q (got %q)", PolicyDrop, PolicyBackpressure, e.QueuePolicy)
	}
	posf("engine.clock_mhz", e.ClockMHz, 10000)
	nonneg("engine.cycles_per_instruction", e.CyclesPerInstruction, 1e6)
	if e.PerMessageCycles < 0 || e.PerMessageCycles > 1e12 {
		bad("engine.per_message_cycles", "must be 0..1e12 (got %d)", e.PerMessageCycles)
	}
	if e.Cost != CostInstructions && e.Cost != CostHostScaled {
		bad("engine.cost", "must be %q (default) or %q (got %q)", CostInstructions, CostHostScaled, e.Cost)
	}
	nonneg("engine.host_scale", e.HostScale, 1e6)
	return errors.Join(errs...)
}

// YAML renders the config as a complete YAML document (every field), the
// form a user copies to start their own model file.
func (c *Config) YAML() ([]byte, error) { return yaml.Marshal(c) }

package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustTiming(t *testing.T, c Config) *Timing {
	t.Helper()
	tm, err := NewTiming(c)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestSerialization(t *testing.T) {
	for _, tc := range []struct {
		frame int // bytes including FCS
		gbps  float64
		want  Time
	}{
		// 64 B frame = 84 B = 672 bits on the wire.
		{64, 10, 67200 * Picosecond},
		{64, 25, 26880 * Picosecond},
		{64, 100, 6720 * Picosecond},
		// 1500 B frame = 1520 B = 12160 bits.
		{1500, 10, 1216 * Nanosecond},
		{1500, 25, 486400 * Picosecond},
		{1500, 100, 121600 * Picosecond},
		// 1518 B (1500 B MTU payload) = 1538 B = 12304 bits.
		{1518, 10, 1230400 * Picosecond},
		{1518, 100, 123040 * Picosecond},
		// Runts are padded to 64 B.
		{42, 100, 6720 * Picosecond},
	} {
		c := Default()
		c.LineRateGbps = tc.gbps
		if got := mustTiming(t, c).Serialization(tc.frame); got != tc.want {
			t.Errorf("%d B at %g Gb/s: got %v (%d ps), want %v", tc.frame, tc.gbps, got, int64(got), tc.want)
		}
	}
	if got := CapturedWireBytes(60); got != 84 {
		t.Errorf("captured 60 B frame: %d wire bytes, want 84", got)
	}
}

func TestCyclesDMAEngine(t *testing.T) {
	tm := mustTiming(t, Default())
	if tm.Cycle() != 4*Nanosecond {
		t.Errorf("250 MHz cycle = %v, want 4ns", tm.Cycle())
	}
	if got := tm.Cycles(12); got != 48*Nanosecond {
		t.Errorf("12 cycles = %v, want 48ns", got)
	}
	if tm.DMALatency != 800*Nanosecond {
		t.Errorf("DMA latency %v, want 800ns", tm.DMALatency)
	}
	// 1500 B over 100 Gb/s effective PCIe = 12000 bits × 10 ps.
	if got := tm.PCIeTransfer(1500); got != 120*Nanosecond {
		t.Errorf("PCIe 1500 B = %v, want 120ns", got)
	}
	for _, tc := range []struct {
		n    int
		want int64
	}{{0, 1}, {1, 1}, {64, 1}, {65, 2}, {1514, 24}} {
		if got := tm.Beats(tc.n); got != tc.want {
			t.Errorf("Beats(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	// 1000 instructions at 1 CPI, 250 MHz = 4 µs.
	if got := tm.EngineTime(1000); got != 4*Microsecond {
		t.Errorf("EngineTime(1000) = %v, want 4µs", got)
	}
	arm, _ := Preset("arm-dpu")
	ta := mustTiming(t, arm)
	// (5000 + 1000×3) cycles at 2.5 GHz (400 ps) = 3.2 µs.
	if got := ta.EngineTime(1000); got != 3200*Nanosecond {
		t.Errorf("arm EngineTime(1000) = %v, want 3.2µs", got)
	}
	c := Default()
	c.Engine.HostScale = 0.5
	if got := mustTiming(t, c).HostScaled(10 * Microsecond); got != 5*Microsecond {
		t.Errorf("HostScaled = %v", got)
	}
}

func TestPresetsValid(t *testing.T) {
	for _, n := range Presets() {
		c, err := Preset(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
		if c.Name != n {
			t.Errorf("preset %s is named %q", n, c.Name)
		}
		if c.Engine.Cost != CostInstructions {
			t.Errorf("preset %s: cost %q, the default must be instruction-counted", n, c.Engine.Cost)
		}
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "fpga-250mhz") {
		t.Errorf("unknown preset error should list presets: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string // substring; "" = valid
		check    func(Config) bool
	}{
		{"empty is default", "", "", func(c Config) bool { return c.ClockMHz == 250 && c.Base == DefaultPreset }},
		{"override one field", "engine:\n  count: 2\n", "", func(c Config) bool { return c.Engine.Count == 2 && c.Engine.QueueDepth == 64 }},
		{"json", `{"base":"arm-dpu","engine":{"queue_depth":8}}`, "", func(c Config) bool { return c.Engine.ClockMHz == 2500 && c.Engine.QueueDepth == 8 }},
		{"unknown field", "engine:\n  cuont: 2\n", "cuont", nil},
		{"bad policy", "engine:\n  queue_policy: tail\n", "engine.queue_policy", nil},
		{"zero clock", "clock_mhz: 0\n", "clock_mhz", nil},
		{"negative stage", "stages:\n  parser: -1\n", "stages.parser", nil},
		{"bad cost", "engine:\n  cost: wallclock\n", "engine.cost", nil},
		{"bad base", "base: asic\n", "base", nil},
		{"bad yaml", "clock_mhz: [\n", "model", nil},
		{"wrong type", "line_rate_gbps: fast\n", "line 1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if c, err := Load("arm-dpu"); err != nil || c.Name != "arm-dpu" {
		t.Fatalf("Load preset: %v %v", c.Name, err)
	}
	if _, err := Load("fpga-100mhz"); err == nil || !strings.Contains(err.Error(), "neither a preset") {
		t.Errorf("Load of unknown name: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	d := Default()
	out, err := d.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stages != d.Stages || c.Engine != d.Engine || c.PCIe != d.PCIe {
		t.Errorf("YAML round trip changed the model: %+v", c)
	}
	if err := os.WriteFile(p, []byte("engine:\n  count: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "engine.count") {
		t.Errorf("error should name file and field: %v", err)
	}
}

func TestTimeFormat(t *testing.T) {
	for _, tc := range []struct {
		t    Time
		ns   int64
		want string
	}{
		{6720, 7, "6.72ns"}, {1500, 2, "1.5ns"}, {1499, 1, "1.499ns"}, {-1500, -2, "-1.5ns"},
		{100 * Microsecond, 100000, "100µs"}, {12, 0, "12ps"},
	} {
		if got := tc.t.Nanoseconds(); got != tc.ns {
			t.Errorf("%d ps → %d ns, want %d", int64(tc.t), got, tc.ns)
		}
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%d ps → %q, want %q", int64(tc.t), got, tc.want)
		}
	}
}

package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Results is everything a sweep produced: what was measured, where, how, and
// every run's raw latency histogram. It is results.json.
type Results struct {
	// Format versions the file layout.
	Format   int       `json:"format"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Interrupted is set when the sweep was stopped before its end.
	Interrupted bool     `json:"interrupted,omitempty"`
	Machine     Machine  `json:"machine"`
	Software    Software `json:"software"`
	Settings    Settings `json:"settings"`
	Series      []Series `json:"series"`
	// Baseline is the series the ratios compare to ("" when none).
	Baseline string `json:"baseline,omitempty"`
	// Skipped lists series that were asked for but could not run, and why.
	Skipped []Skipped `json:"skipped,omitempty"`
	Runs    []Run     `json:"runs"`
	Cells   []Cell    `json:"summary"`
}

// FormatVersion is the current Results.Format.
const FormatVersion = 1

// Skipped is a series that did not run.
type Skipped struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Settings are the sweep's parameters as given.
type Settings struct {
	Connections []int    `json:"connections"`
	QPS         string   `json:"qps"` // "max" or a number
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	Repeat      int      `json:"repeat"`
	Order       string   `json:"order"`
	Headers     []string `json:"headers,omitempty"`
	LoadEngine  string   `json:"load_engine"`
	Resolution  string   `json:"resolution"`
}

// SettingsOf describes c.
func SettingsOf(c Config) Settings {
	qps := "max"
	if c.QPS > 0 {
		qps = strconv.FormatFloat(c.QPS, 'g', -1, 64)
	}
	return Settings{
		Connections: c.Connections, QPS: qps, Duration: c.Duration.String(), Warmup: c.Warmup.String(),
		Repeat: c.Repeat, Headers: c.Headers,
		Order:      "interleaved: for each connection level, repeat times, every series in turn",
		LoadEngine: "fortio " + fortioVersion() + " (fhttp fast client, periodic runner), closed loop per connection",
		Resolution: "1 µs, exact (every latency kept)",
	}
}

// Machine describes where the sweep ran.
type Machine struct {
	Hostname   string `json:"hostname"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	MemoryMB   int    `json:"memory_mb,omitempty"`
	// LoadAvg is the 1, 5 and 15 minute load average when the sweep began:
	// a busy machine makes every number worse.
	LoadAvg string `json:"loadavg,omitempty"`
}

// Software identifies what ran.
type Software struct {
	GoVersion string `json:"go_version"`
	Commit    string `json:"commit"`
	Dirty     bool   `json:"dirty,omitempty"`
	Fortio    string `json:"fortio"`
}

// CollectMachine describes this machine.
func CollectMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryMB = kb / 1024
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// CollectSoftware identifies this build: Go version, the commit (from the
// build's VCS stamp, else from git in the current directory), fortio.
func CollectSoftware() Software {
	s := Software{GoVersion: runtime.Version(), Commit: "unknown", Fortio: fortioVersion()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				s.Commit = kv.Value
			case "vcs.modified":
				s.Dirty = kv.Value == "true"
			}
		}
	}
	if s.Commit == "unknown" {
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			s.Commit = strings.TrimSpace(string(out))
			if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
				s.Dirty = len(bytes.TrimSpace(st)) > 0
			}
		}
	}
	return s
}

func fortioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "fortio.org/fortio" {
				return d.Version
			}
		}
	}
	return "unknown"
}

// Summarize fills r.Cells from r.Runs.
func (r *Results) Summarize() {
	names := make([]string, len(r.Series))
	for i, s := range r.Series {
		names[i] = s.Name
	}
	r.Cells = Summarize(names, r.Runs, r.Baseline)
}

// ReadResults parses a results.json, checking what the report relies on.
func ReadResults(data []byte) (*Results, error) {
	var r Results
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("results.json: %w", err)
	}
	if r.Format != FormatVersion {
		return nil, fmt.Errorf("results.json: format %d, this nicrt reads format %d", r.Format, FormatVersion)
	}
	known := map[string]bool{}
	for _, s := range r.Series {
		known[s.Name] = true
	}
	for i, run := range r.Runs {
		if !known[run.Series] {
			return nil, fmt.Errorf("results.json: runs[%d]: series %q is not listed in series", i, run.Series)
		}
		if run.Latency.Count() != run.Requests {
			return nil, fmt.Errorf("results.json: runs[%d]: %d requests but %d latencies", i, run.Requests, run.Latency.Count())
		}
	}
	return &r, nil
}

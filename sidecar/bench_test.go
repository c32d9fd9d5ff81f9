package sidecar

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	flog "fortio.org/log"
	"golang.org/x/sys/unix"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/sidecar/internal/echo"
)

// The benchmarks below are the sidecar's performance report
// (docs/benchmarks.md, section "sidecar"). They ignore b.N: each runs its
// load with fortio for a fixed time (use -benchtime 1x) and reports
// percentiles as metrics, so one `go test -bench` prints every topology
// side by side. Sidecars run as separate processes, as a sidecar is.
//
//	go test -run '^$' -bench 'BenchmarkSidecar' -benchtime 1x -timeout 30m ./sidecar/
//
// NICRT_BENCH_SECONDS shortens or lengthens each measurement (default 10);
// NICRT_LB_WASM uses a prebuilt lb module instead of building filters/lb.

var nicrtBin struct {
	once sync.Once
	path string
	err  error
}

// buildNicrt builds cmd/nicrt once per test binary.
func buildNicrt(tb testing.TB) string {
	nicrtBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "nicrt-bench-bin-")
		if err != nil {
			nicrtBin.err = err
			return
		}
		nicrtBin.path = filepath.Join(dir, "nicrt")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, err := exec.Command(goTool, "build", "-o", nicrtBin.path, "../cmd/nicrt").CombinedOutput()
		if err != nil {
			nicrtBin.err = fmt.Errorf("go build ../cmd/nicrt: %v\n%s", err, out)
		}
	})
	if nicrtBin.err != nil {
		tb.Fatal(nicrtBin.err)
	}
	return nicrtBin.path
}

// proc is a `nicrt sidecar` process.
type proc struct {
	cmd       *exec.Cmd
	listeners map[string]string
	admin     string
	stderr    *logBuffer
	done      chan error
}

// startProc writes cfg to a file and runs `nicrt sidecar` on it with the
// extra environment and flags; it waits for the ready lines and stops the
// process (SIGTERM) at the end of the test.
func startProc(tb testing.TB, cfg string, env []string, flags ...string) *proc {
	return startProcOn(tb, "", cfg, env, flags...)
}

// startProcOn is startProc with the process bound to the CPUs of cpuList
// (taskset's syntax, "1" or "0-3"; empty means anywhere).
func startProcOn(tb testing.TB, cpuList, cfg string, env []string, flags ...string) *proc {
	tb.Helper()
	bin := buildNicrt(tb)
	path := writeFile(tb, tb.TempDir(), "sidecar.yaml", cfg)
	args := append([]string{bin, "sidecar", "--config", path}, flags...)
	if cpuList != "" {
		// taskset sets the mask before exec, so every thread the Go
		// runtime starts inherits it.
		args = append([]string{"taskset", "-c", cpuList}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, listeners: map[string]string{}, stderr: &logBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	tb.Cleanup(func() { p.stop(tb) })
	sc := bufio.NewScanner(out)
	ready := make(chan struct{})
	go func() {
		for sc.Scan() {
			l := sc.Text()
			if i := strings.LastIndex(l, "http://"); i >= 0 && strings.HasPrefix(l, "nicrt sidecar:") {
				f := strings.Fields(l)
				if f[2] == "listener" {
					p.listeners[f[3]] = l[i+7:]
				} else {
					p.admin = l[i+7:]
					close(ready)
				}
			}
		}
	}()
	select {
	case <-ready:
	case err := <-p.done:
		tb.Fatalf("sidecar exited: %v\n%s", err, p.stderr.String())
	case <-time.After(60 * time.Second):
		tb.Fatalf("sidecar not ready:\n%s", p.stderr.String())
	}
	return p
}

// cpu returns the CPU time (user + system) the process has used so far,
// from /proc: the load-independent measure of what a request costs.
func (p *proc) cpu(tb testing.TB) time.Duration { return pidCPU(tb, p.cmd.Process.Pid) }

// pidCPU is the CPU time process pid has used so far.
func pidCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name (which may contain spaces) start at
	// state; utime and stime are the 12th and 13th after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func (p *proc) stop(tb testing.TB) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// benchFilter is the filter a benchmark's sidecar runs: lb.wasm when the
// filters package is there, else (stated in the output) the stamp guest
// doing the same routing.
func benchFilter(tb testing.TB) (name, path, config string) {
	if os.Getenv("NICRT_BENCH_FILTER") == "none" {
		return "none", "", ""
	}
	const lbConfig = `{"service": "echo", "policy": "round_robin", "clusters": ["echo-v1"]}`
	if p := os.Getenv("NICRT_LB_WASM"); p != "" {
		return "lb.wasm (" + p + ")", p, lbConfig
	}
	if _, err := os.Stat("../filters/lb/main.go"); err == nil {
		p := writeFile(tb, tb.TempDir(), "lb.wasm", string(wasmbuild.Go(tb, "../filters/lb")))
		return "lb.wasm", p, lbConfig
	}
	return "stamp (lb.wasm not built yet)", stampGuest(tb), "cluster=echo-v1"
}

// filterYAML is a listener's filters line; without a filter the listener
// sends everything to echo-v1 itself.
func filterYAML(path, config string) string {
	if path == "" {
		return "    cluster: echo-v1"
	}
	return fmt.Sprintf("    filters: [{name: lb, wasm: %s, configuration: '%s'}]", path, config)
}

func benchSeconds() time.Duration {
	var s int
	if _, err := fmt.Sscan(os.Getenv("NICRT_BENCH_SECONDS"), &s); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 10 * time.Second
}

// load is one fortio run's result.
type load struct {
	qps           float64
	p50, p90, p99 float64 // microseconds
	errors        int64
	count         int64
	cpu           float64 // µs of proxy-process CPU per request
}

// runFortio loads url with a 1 KiB POST body: qps <= 0 means as fast as
// possible (closed loop).
func runFortio(tb testing.TB, url string, conns int, qps float64, d time.Duration) load {
	tb.Helper()
	flog.SetLogLevelQuiet(flog.Error)
	o := fhttp.HTTPRunnerOptions{}
	o.URL = url
	o.Payload = make([]byte, 1024)
	for i := range o.Payload {
		o.Payload[i] = 'a' + byte(i%26)
	}
	o.NumThreads = conns
	o.QPS = qps
	if qps <= 0 {
		o.QPS = -1
	}
	o.Duration = d
	o.Percentiles = []float64{50, 90, 99}
	o.RunnerOptions.Resolution = 1e-6 // microsecond histogram buckets
	o.HTTPOptions.Resolution = 1e-6
	o.Uniform = true
	o.Out = io.Discard
	o.AllowInitialErrors = true
	o.Init(url)
	o.AddAndValidateExtraHeader("Host: echo:8080")
	res, err := fhttp.RunHTTPTest(&o)
	if err != nil {
		tb.Fatalf("fortio %s: %v", url, err)
	}
	l := load{qps: res.ActualQPS, count: res.DurationHistogram.Count}
	for code, n := range res.RetCodes {
		if code != 200 {
			l.errors += n
		}
	}
	for _, p := range res.DurationHistogram.Percentiles {
		v := p.Value * 1e6
		switch p.Percentile {
		case 50:
			l.p50 = v
		case 90:
			l.p90 = v
		case 99:
			l.p99 = v
		}
	}
	return l
}

// relayEnv makes the test binary a bare TCP relay to the address it names
// (see TestMain): a process hop that parses nothing, the floor any proxy
// process pays on this machine.
const relayEnv = "NICRT_BENCH_RELAY_TO"

// runRelay accepts connections on a free loopback port (printed on
// standard output) and copies bytes both ways to target.
func runRelay(target string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("relay " + ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return 0
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go io.Copy(u, c)
			io.Copy(c, u)
		}()
	}
}

// startRelay runs the test binary as a relay process to target and returns
// its address and process id.
func startRelay(tb testing.TB, target string) (string, int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), relayEnv+"="+target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		tb.Fatal("relay did not start")
	}
	return strings.TrimPrefix(sc.Text(), "relay "), cmd.Process.Pid
}

type topology struct {
	name string
	url  string
	pids []int // the proxy processes on the path
}

// cpu is the CPU time the topology's proxy processes have used so far.
func (t topology) cpu(tb testing.TB) time.Duration {
	var d time.Duration
	for _, pid := range t.pids {
		d += pidCPU(tb, pid)
	}
	return d
}

// benchTopologies starts the echo upstream and the sidecar processes for
// the paths measured: direct; through a bare TCP relay process (the floor
// of any process hop here); one sidecar hop (client side, with the filter);
// client + server sidecars (the server sidecar runs no filter).
func benchTopologies(b *testing.B, env []string) ([]topology, string) {
	up, err := echo.Listen("127.0.0.1:0", "echo")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	fname, fpath, fcfg := benchFilter(b)
	server := startProc(b, fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
listeners:
  - {name: inbound, address: "127.0.0.1:0", cluster: app}
clusters:
  - {name: app, endpoints: ["%s"]}
`, up.Addr()), env)
	client := func(target string) *proc {
		return startProc(b, fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
listeners:
  - name: outbound
    direction: outbound
    address: "127.0.0.1:0"
%s
clusters:
  - {name: echo-v1, endpoints: ["%s"]}
`, filterYAML(fpath, fcfg), target), env)
	}
	one := client(up.Addr())
	two := client(server.listeners["inbound"])
	relay, relayPID := startRelay(b, up.Addr())
	pid := func(p *proc) int { return p.cmd.Process.Pid }
	return []topology{
		{"direct", "http://" + up.Addr() + "/echo", nil},
		{"tcp-relay", "http://" + relay + "/echo", []int{relayPID}},
		{"sidecar", "http://" + one.listeners["outbound"] + "/echo", []int{pid(one)}},
		{"sidecar×2", "http://" + two.listeners["outbound"] + "/echo", []int{pid(two), pid(server)}},
	}, fname
}

// measure runs every topology rounds times, interleaved (A B C A B C...)
// so drift on this shared machine hits all of them alike, and returns the
// median of each percentile over the rounds.
func measure(b *testing.B, tops []topology, conns int, qps float64, d time.Duration, rounds int) []load {
	all := make([][]load, len(tops))
	for r := 0; r < rounds; r++ {
		for i, t := range tops {
			cpu0 := t.cpu(b)
			l := runFortio(b, t.url, conns, qps, d)
			if l.count > 0 {
				l.cpu = float64(t.cpu(b)-cpu0) / float64(time.Microsecond) / float64(l.count)
			}
			all[i] = append(all[i], l)
		}
	}
	out := make([]load, len(tops))
	for i, ls := range all {
		out[i] = medianLoad(ls)
	}
	return out
}

func medianLoad(ls []load) load {
	pick := func(f func(load) float64) float64 {
		v := make([]float64, len(ls))
		for i, l := range ls {
			v[i] = f(l)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	m := load{
		qps: pick(func(l load) float64 { return l.qps }),
		p50: pick(func(l load) float64 { return l.p50 }),
		p90: pick(func(l load) float64 { return l.p90 }),
		p99: pick(func(l load) float64 { return l.p99 }),
		cpu: pick(func(l load) float64 { return l.cpu }),
	}
	for _, l := range ls {
		m.errors += l.errors
		m.count += l.count
	}
	return m
}

// BenchmarkSidecarLatency measures latency percentiles of a 1 KiB echo at
// Istio's standard load (1000 rps over 16 connections) and in a closed loop
// on one connection: direct, through one sidecar with the filter, and
// through client and server sidecars.
func BenchmarkSidecarLatency(b *testing.B) {
	tops, fname := benchTopologies(b, nil)
	d := benchSeconds()
	for _, sc := range []struct {
		name  string
		conns int
		qps   float64
	}{
		{"1000rps-16conns", 16, 1000},
		{"closed-loop-1conn", 1, 0},
	} {
		res := measure(b, tops, sc.conns, sc.qps, d, 3)
		var tbl strings.Builder
		fmt.Fprintf(&tbl, "%s, filter %s, median of 3 interleaved %v runs per path:\n", sc.name, fname, d)
		fmt.Fprintf(&tbl, "  %-10s %9s %9s %9s %9s %9s %9s %16s %7s\n", "path", "qps", "p50 µs", "p90 µs", "p99 µs", "+p50 µs", "+p90 µs", "proxy CPU µs/req", "errors")
		for i, t := range tops {
			r := res[i]
			fmt.Fprintf(&tbl, "  %-10s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %16.1f %7d\n", t.name, r.qps, r.p50, r.p90, r.p99, r.p50-res[0].p50, r.p90-res[0].p90, r.cpu, r.errors)
			b.Run(sc.name+"/"+t.name, func(b *testing.B) {
				b.ReportMetric(r.p50, "p50-µs")
				b.ReportMetric(r.p90, "p90-µs")
				b.ReportMetric(r.p99, "p99-µs")
				b.ReportMetric(r.p90-res[0].p90, "added-p90-µs")
				b.ReportMetric(r.cpu, "proxy-cpu-µs/req")
				b.ReportMetric(r.qps, "qps")
				b.ReportMetric(float64(r.errors), "errors")
			})
		}
		b.Log("\n" + tbl.String())
	}
}

// BenchmarkSidecarThroughput is the maximum request rate through one
// sidecar process limited to one core, running the filter, at several
// connection counts. The sidecar runs with GOMAXPROCS=1 and, when the
// machine has two CPUs or more and taskset is installed, bound to the last
// CPU while this process (load generator and echo upstream) is bound to the
// others, so the sidecar has at most one core and does not compete with
// its own load for it. Besides the rate reached, it reports the sidecar's
// CPU time per request: 1e6 divided by it is the rate one fully busy core
// would carry. The sidecar's CPU profile is written to
// NICRT_BENCH_PROFILE when set.
func BenchmarkSidecarThroughput(b *testing.B) {
	up, err := echo.Listen("127.0.0.1:0", "echo")
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	fname, fpath, fcfg := benchFilter(b)
	var flags []string
	if p := os.Getenv("NICRT_BENCH_PROFILE"); p != "" {
		flags = append(flags, "--cpuprofile", p)
	}
	sidecarCPU, loadCPUs, placement := splitCPUs()
	if loadCPUs != nil {
		restore, err := pinProcess(loadCPUs)
		if err != nil {
			b.Fatalf("binding the load generator to CPUs %v: %v", loadCPUs, err)
		}
		defer restore()
	}
	p := startProcOn(b, sidecarCPU, fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
listeners:
  - name: outbound
    address: "127.0.0.1:0"
%s
clusters:
  - {name: echo-v1, endpoints: ["%s"]}
`, filterYAML(fpath, fcfg), up.Addr()), []string{"GOMAXPROCS=1"}, flags...)
	url := "http://" + p.listeners["outbound"] + "/echo"
	d := benchSeconds()
	runFortio(b, url, 16, 0, time.Second) // warm up
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "max throughput, sidecar at GOMAXPROCS=1 (%s), filter %s, %v per run:\n", placement, fname, d)
	for _, conns := range []int{8, 16, 32, 64} {
		cpu0 := p.cpu(b)
		r := runFortio(b, url, conns, 0, d)
		cpu := float64(p.cpu(b)-cpu0) / float64(time.Microsecond) / float64(r.count)
		fmt.Fprintf(&tbl, "  %3d connections: %7.0f rps, p50 %6.0f µs, p90 %6.0f µs, p99 %6.0f µs, sidecar CPU %5.1f µs/request (%5.0f rps per busy core), %d errors\n",
			conns, r.qps, r.p50, r.p90, r.p99, cpu, 1e6/cpu, r.errors)
		b.Run(fmt.Sprintf("conns-%d", conns), func(b *testing.B) {
			b.ReportMetric(r.qps, "rps")
			b.ReportMetric(r.p90, "p90-µs")
			b.ReportMetric(cpu, "sidecar-cpu-µs/req")
			b.ReportMetric(1e6/cpu, "rps/core")
			b.ReportMetric(float64(r.errors), "errors")
		})
	}
	p.stop(b)
	b.Log("\n" + tbl.String())
	if warn := p.warnings(); warn != "" {
		b.Logf("sidecar warnings:\n%s", warn)
	}
}

// splitCPUs chooses where the throughput benchmark runs: the sidecar on
// the last CPU this process may use, the load on the rest. Without two
// CPUs or without taskset nothing is bound (placement says so).
func splitCPUs() (sidecar string, load []int, placement string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "", nil, "not bound to a CPU: " + err.Error()
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return "", nil, "not bound to a CPU: only one CPU"
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", nil, "not bound to a CPU: no taskset"
	}
	last := cpus[len(cpus)-1]
	return strconv.Itoa(last), cpus[:len(cpus)-1], fmt.Sprintf("bound to CPU %d, load generator and upstream on CPUs %v", last, cpus[:len(cpus)-1])
}

// pinProcess binds every thread of this process to cpus (threads started
// later inherit the binding from the thread that starts them) and returns
// a function that restores the previous binding.
func pinProcess(cpus []int) (restore func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	for _, c := range cpus {
		set.Set(c)
	}
	apply := func(s *unix.CPUSet) error {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tids {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		return nil
	}
	if err := apply(&set); err != nil {
		apply(&old)
		return nil, err
	}
	return func() { apply(&old) }, nil
}

// warnings returns the WARN and ERROR lines the process logged.
func (p *proc) warnings() string {
	var out []string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

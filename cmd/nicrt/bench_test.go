//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/bookinfo-harness/report"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

// testBenchShort runs a tiny real sweep — the direct topology that bench
// deploys itself, plus a separately started deployment measured as an
// external --target — and reads every output file back.
func testBenchShort(t *testing.T, bin string) {
	ext := startUp(t, bin, "--topology", topology.Direct, "--hosts", "127.0.11.1")
	out := t.TempDir()
	cmd := exec.Command(bin, "bench", "--topologies", "direct", "--target", "other="+ext.entry,
		"--connections", "1,2", "--duration", "1s", "--warmup", "200ms", "--out", out, "--no-progress",
		"--wasm-dir", wasmDirForTests(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	// The progress lines name every step, in interleaved order.
	var steps []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(line, "[") {
			steps = append(steps, line)
		}
	}
	if len(steps) != 4 || !strings.Contains(steps[0], "direct, 1 connection") || !strings.Contains(steps[1], "other, 1 connection") ||
		!strings.Contains(steps[2], "direct, 2 connections") {
		t.Errorf("steps %q", steps)
	}
	if !strings.Contains(stdout.String(), "| direct ") || !strings.Contains(stdout.String(), "| other ") {
		t.Errorf("stdout lacks the table:\n%s", stdout.String())
	}

	res := readResults(t, out)
	if len(res.Runs) != 4 || len(res.Cells) != 4 || res.Baseline != "direct" || res.Interrupted {
		t.Fatalf("results: %d runs, %d cells, baseline %q", len(res.Runs), len(res.Cells), res.Baseline)
	}
	if res.Software.GoVersion == "" || res.Machine.CPUs == 0 || res.Settings.Duration != "1s" || res.Settings.QPS != "max" {
		t.Errorf("metadata %+v %+v %+v", res.Software, res.Machine, res.Settings)
	}
	if s := res.Series[0]; s.Topology != "direct" || len(s.Processes) != 4 || !strings.HasPrefix(s.URL, "http://127.0.10.1:") {
		t.Errorf("series %+v", s)
	}
	if s := res.Series[1]; s.Name != "other" || s.URL != ext.entry || s.Topology != "" {
		t.Errorf("target series %+v", s)
	}
	for _, c := range res.Cells {
		// Both deployments are direct: every page from reviews v3, no errors,
		// a plausible p90 for loopback.
		if c.Requests < 20 || c.Errors != 0 || c.Shares["v3"] != 1 || c.P90 <= 0 || c.P90 > 1000 || c.P50 > c.P90 || c.P90 > c.Max {
			t.Errorf("cell %+v", c)
		}
		if c.QPS <= 0 {
			t.Errorf("%s,%d: qps %.1f", c.Series, c.Connections, c.QPS)
		}
	}

	f, err := os.Open(filepath.Join(out, report.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 5 {
		t.Fatalf("csv: %v, %d rows", err, len(rows))
	}
	for i, c := range res.Cells {
		p90, _ := strconv.ParseFloat(rows[i+1][8], 64)
		if rows[i+1][0] != c.Series || p90 < float64(c.P90)-0.001 || p90 > float64(c.P90)+0.001 {
			t.Errorf("csv row %v vs cell %+v", rows[i+1], c)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, report.MDFile))
	if !bytes.Contains(md, []byte("| other ")) || !bytes.Contains(md, []byte("(×")) {
		t.Errorf("report.md:\n%s", md)
	}
	pf, err := os.Open(filepath.Join(out, report.PNGFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(pf); err != nil {
		t.Errorf("png: %v", err)
	}
	pf.Close()
	if svg, err := os.ReadFile(filepath.Join(out, report.SVGFile)); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("svg: %v", err)
	}
	for _, log := range []string{"ratings.log", "productpage.log"} {
		if _, err := os.Stat(filepath.Join(out, "logs", "direct", log)); err != nil {
			t.Errorf("deployment log: %v", err)
		}
	}

	// --from re-renders the same numbers without measuring.
	again := t.TempDir()
	if b, err := exec.Command(bin, "bench", "--from", filepath.Join(out, report.JSONFile), "--out", again).CombinedOutput(); err != nil {
		t.Fatalf("--from: %v\n%s", err, b)
	}
	csv1, _ := os.ReadFile(filepath.Join(out, report.CSVFile))
	csv2, _ := os.ReadFile(filepath.Join(again, report.CSVFile))
	if !bytes.Equal(csv1, csv2) {
		t.Errorf("--from changed the CSV:\n%s\n%s", csv1, csv2)
	}
	ext.stop(t, syscall.SIGINT)
}

// readResults parses DIR/results.json.
func readResults(t *testing.T, dir string) *bench.Results {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench.ReadResults(data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, n)
		}
	}
	return kids
}

// testBenchInterrupted: Ctrl-C during a sweep stops the load and every
// deployment, writes what was measured (marked interrupted) and exits 130.
func testBenchInterrupted(t *testing.T, bin string) {
	out := t.TempDir()
	cmd := exec.Command(bin, "bench", "--topologies", "direct", "--connections", "1,2", "--duration", "1s", "--warmup", "0s",
		"--out", out, "--no-progress", "--wasm-dir", wasmDirForTests(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), "[2/2]") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	kids := childrenOf(cmd.Process.Pid)
	if len(kids) != 4 {
		t.Fatalf("bench has %d children, want the 4 processes of direct; stderr %q", len(kids), seen)
	}
	time.Sleep(300 * time.Millisecond) // inside the second run
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bench ignored SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want status 130", err)
	}
	for _, k := range kids {
		if !processGone(k) {
			t.Errorf("process %d outlived the interrupted bench", k)
		}
	}
	res := readResults(t, out)
	if !res.Interrupted || len(res.Runs) != 1 || res.Runs[0].Connections != 1 {
		t.Errorf("interrupted %v with %d runs", res.Interrupted, len(res.Runs))
	}
	if md, _ := os.ReadFile(filepath.Join(out, report.MDFile)); !bytes.Contains(md, []byte("interrupted")) {
		t.Error("report.md does not say the sweep was interrupted")
	}
}

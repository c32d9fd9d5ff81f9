package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const samplePcap = "../../nicsim/testdata/http.pcap"

// nicRun runs `nicrt args...` in-process, capturing stdout (the replay
// prints there) and stderr.
func nicRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	var errb bytes.Buffer
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.Bytes()
	}()
	code = runMain(args, w, &errb)
	w.Close()
	os.Stdout = old
	return code, string(<-done), errb.String()
}

func TestNICReplayCLI(t *testing.T) {
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	code, so1, se := nicRun(t, "nic", "replay", samplePcap, "-o", out1, "--probe-frames", "3000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se)
	}
	for _, want := range []string{"41 frames written", "per-stage time", "saturation point", "simulation speed"} {
		if !strings.Contains(so1, want) {
			t.Errorf("output lacks %q:\n%s", want, so1)
		}
	}
	code, so2, se := nicRun(t, "nic", "replay", "--probe-frames", "3000", samplePcap, "-o", out2)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se)
	}
	a, _ := os.ReadFile(out1)
	b, _ := os.ReadFile(out2)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("two replays wrote different pcaps")
	}
	// The report is identical but for the file names and host timing line.
	strip := func(s string) string {
		lines := strings.Split(s, "\n")
		var keep []string
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "simulation speed") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(so1) != strip(so2) {
		t.Errorf("reports differ:\n%s\n---\n%s", so1, so2)
	}
}

func TestNICCLIErrors(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "f.wasm")
	os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	badModel := filepath.Join(dir, "m.yaml")
	os.WriteFile(badModel, []byte("engine:\n  queue_policy: lifo\n"), 0o644)
	out := filepath.Join(dir, "o.pcap")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nic", "replay", samplePcap}, 2, "needs -o"},
		{[]string{"nic", "replay", "-o", out}, 2, "one input capture"},
		{[]string{"nic", "replay", samplePcap, "-o", samplePcap}, 2, "overwrite the input"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--filter", wasm}, 1, "missing export proxy_abi_version_0_2_1"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--filter", wasm + ":{\"k\":1}"}, 1, "missing export proxy_on_context_create"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--filter", "missing.wasm"}, 1, "missing.wasm"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--filter", "x.txt"}, 1, "not a .wasm"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--model", badModel}, 1, "engine.queue_policy"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--model", "fpga-1ghz"}, 1, "neither a preset"},
		{[]string{"nic", "replay", samplePcap, "-o", out, "--host", "::1"}, 2, "not an IPv4"},
		{[]string{"nic", "replay", "nope.pcap", "-o", out}, 1, "nope.pcap"},
		{[]string{"nic", "replay", badModel, "-o", out}, 1, "not a pcap"},
		{[]string{"nic"}, 2, "live relay"},
		{[]string{"nic", "bogus"}, 2, "unknown mode"},
	} {
		code, _, se := nicRun(t, tc.args...)
		if code != tc.code || !strings.Contains(se, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, se, tc.code, tc.want)
		}
	}
	code, so, _ := nicRun(t, "nic", "--print-model", "--model", "arm-dpu")
	if code != 0 || !strings.Contains(so, "clock_mhz: 2500") {
		t.Errorf("--print-model: %d %q", code, so)
	}
	code, so, _ = nicRun(t, "help", "nic")
	if code != 0 || !strings.Contains(so, "nicrt nic replay IN.pcap") {
		t.Errorf("help nic: %q", so)
	}
}

// TestNICExampleREADME keeps examples/nic-replay/README.md's first output
// block equal to what the command prints (all but the host-timing line).
func TestNICExampleREADME(t *testing.T) {
	readme, err := os.ReadFile("../../examples/nic-replay/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "Output (everything but the last line is deterministic):\n\n```\n")
	if !ok {
		t.Fatal("README has no output block")
	}
	block, _, _ := strings.Cut(after, "```")
	out := filepath.Join(t.TempDir(), "out.pcap")
	code, so, se := nicRun(t, "nic", "replay", samplePcap, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se)
	}
	norm := func(s string) string {
		s = strings.ReplaceAll(s, out, "/tmp/out.pcap")
		s = strings.ReplaceAll(s, samplePcap, "nicsim/testdata/http.pcap")
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "simulation speed") {
				keep = append(keep, l)
			}
		}
		return strings.TrimSpace(strings.Join(keep, "\n"))
	}
	if norm(block) != norm(so) {
		t.Errorf("examples/nic-replay/README.md is out of date; the command now prints:\n%s", so)
	}
}

// TestNICReplayWithFilter: --filter loads a real guest, which rewrites
// every request, and the report charges its instructions.
func TestNICReplayWithFilter(t *testing.T) {
	t.Setenv("NICRT_CACHE_DIR", t.TempDir())
	guest := writeGuest(t, "../../runtime/testdata/guests/testguest")
	out := filepath.Join(t.TempDir(), "o.pcap")
	code, so, se := nicRun(t, "nic", "replay", samplePcap, "-o", out, "--filter", guest+":bench=1", "--probe-frames", "-1")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, so, se)
	}
	for _, want := range []string{"rewrites: the filters changed 5 messages", "10 messages", "wasm instructions"} {
		if !strings.Contains(so, want) {
			t.Errorf("report lacks %q:\n%s", want, so)
		}
	}
}

//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/nicsim/live"
	"github.com/nicrt/nicrt/nicsim/pcapio"
)

func TestParseNICClusters(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want map[string][]string
		err  string
	}{
		{args: nil},
		{args: []string{"ratings=127.0.0.1:9084"}, want: map[string][]string{"ratings": {"127.0.0.1:9084"}}},
		{args: []string{"reviews=127.0.0.1:1,127.0.0.2:2", "details=localhost:9080"},
			want: map[string][]string{"reviews": {"127.0.0.1:1", "127.0.0.2:2"}, "details": {"localhost:9080"}}},
		{args: []string{"ratings"}, err: `--nic-cluster "ratings": want NAME=HOST:PORT`},
		{args: []string{"=127.0.0.1:1"}, err: `--nic-cluster "=127.0.0.1:1": want NAME=`},
		{args: []string{"a="}, err: `--nic-cluster "a=": want NAME=`},
		{args: []string{"a=127.0.0.1"}, err: `--nic-cluster "a=127.0.0.1": endpoint "127.0.0.1"`},
		{args: []string{"a=:80"}, err: `endpoint ":80": want HOST:PORT (no host)`},
		{args: []string{"a=h:99999"}, err: `endpoint "h:99999"`},
		{args: []string{"a=h:1,"}, err: `endpoint ""`},
		{args: []string{"a=h:1", "a=h:2"}, err: `cluster "a" is already given`},
	} {
		got, err := parseNICClusters(tc.args)
		if tc.err != "" {
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ue) {
				t.Errorf("%q: error %v, want a usage error containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
}

func TestListenIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.10.3:9080": "127.0.10.3", ":9080": "", "0.0.0.0:1": "", "[::1]:1": "",
		"[::ffff:127.0.0.2]:1": "127.0.0.2", "localhost:1": "", "nonsense": "",
	} {
		got := listenIPv4(in)
		if (want == "" && got.IsValid()) || (want != "" && got != netip.MustParseAddr(want)) {
			t.Errorf("listenIPv4(%q) = %v, want %q", in, got, want)
		}
	}
}

// TestParseFilterSpecConfigFile: ":@FILE" reads the configuration from a
// file, and every error names the flag it came from.
func TestParseFilterSpecConfigFile(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "f.wasm")
	cfg := filepath.Join(dir, "c.json")
	os.WriteFile(wasm, []byte("\x00asm"), 0o644)
	os.WriteFile(cfg, []byte(`{"a": 1}`), 0o644)
	for _, tc := range []struct {
		arg, config, err string
	}{
		{arg: wasm, config: ""},
		{arg: wasm + ":inline:with:colons", config: "inline:with:colons"},
		{arg: wasm + ":@" + cfg, config: `{"a": 1}`},
		{arg: wasm + ":@" + dir + "/missing.json", err: "--nic-filter"},
		{arg: dir + "/missing.wasm", err: "--nic-filter"},
		{arg: cfg, err: "--nic-filter"},
		{arg: ":x", err: "--nic-filter"},
	} {
		s, err := parseFilterSpec("--nic-filter", tc.arg)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one starting %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || s.Config != tc.config || s.Path != wasm || s.Flag != "--nic-filter" {
			t.Errorf("%q: %+v, %v; want config %q", tc.arg, s, err, tc.config)
		}
	}
}

// TestNICReport: the account written by --nic-stats is the one nicrt bench
// reads, in its units.
func TestNICReport(t *testing.T) {
	st := live.Stats{Model: "fpga-250mhz", Messages: [2]int64{3, 4}, Underruns: 2, Tolerance: 10 * time.Microsecond,
		MessageLateness: live.Latency{P50: 1500 * time.Nanosecond, P90: 20 * time.Microsecond, Max: time.Millisecond},
		FilterErrors:    5, NICReplies: 6}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeNICReport(path, nicReport("ratings", &st)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var got bench.NICReport
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	want := bench.NICReport{Host: "ratings", Model: "fpga-250mhz", Messages: 7, Underruns: 2, ToleranceUS: 10,
		LatenessP50US: 1.5, LatenessP90US: 20, LatenessMaxUS: 1000, FilterErrors: 5, NICReplies: 6}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// testServeNICUsage: NIC flags without --nic, and bad NIC flag values, are
// refused before anything listens, with a message naming the flag.
func testServeNICUsage(t *testing.T, bin string) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--nic-model", "fpga-250mhz", "--nic-stats", "x.json"}, 2, "--nic-model, --nic-stats: only with --nic"},
		{[]string{"--nic-cluster", "a=h:1"}, 2, "--nic-cluster: only with --nic"},
		{[]string{"--nic", "--outbound", "127.0.0.1:1"}, 2, "--nic and --outbound exclude each other"},
		{[]string{"--nic", "--nic-cluster", "ratings"}, 2, `--nic-cluster "ratings": want NAME=HOST:PORT`},
		{[]string{"--nic", "--nic-filter", "x.txt"}, 2, `--nic-filter "x.txt": "x.txt" is not a .wasm file`},
		{[]string{"--nic", "--nic-model", "no-such-model"}, 1, "--nic-model no-such-model: model: \"no-such-model\" is neither a preset"},
		{[]string{"--nic", "--nic-tolerance", "0s"}, 2, "--nic-tolerance 0s: must be positive"},
		{[]string{"--nic", "--listen", "[::1]:0"}, 2, "--nic with --listen [::1]:0: the NIC's frames are IPv4"},
	} {
		cmd := exec.Command(bin, append([]string{"bookinfo", "serve", "--service", "ratings", "--listen", "127.0.0.1:0"}, tc.args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		out, err := cmd.CombinedOutput()
		timer.Stop()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %q: %v, want exit %d with %q; output:\n%s", tc.args, err, tc.code, tc.want, out)
		}
	}
}

// testServeNIC runs reviews behind its NIC, calling ratings (also behind
// its NIC) by a logical name that only the NIC can resolve: through the
// cluster the lb filter names in the routing header (so routing by header
// works, with a configuration given as :@FILE), then, without filters,
// through the cluster named by the request's host. At exit each NIC writes
// its account (--nic-stats) and reviews' NIC its frames (--nic-pcap).
func testServeNIC(t *testing.T, bin string) {
	lb := filepath.Join(wasmDirForTests(t), "lb.wasm")
	if _, err := os.Stat(lb); err != nil {
		t.Skipf("the lb filter is not built (make filters): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lb.json")
	os.WriteFile(cfg, []byte(`{"service": "ratings", "policy": "round_robin", "clusters": ["ratings-only"]}`), 0o644)
	ratingsStats := filepath.Join(dir, "ratings.nic.json")
	ratings := startProc(t, bin, "ratings", "--service", "ratings", "--nic", "--nic-stats", ratingsStats, "--nic-quiet")

	const pages = 5
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"routing-header", []string{"--nic-filter", lb + ":@" + cfg, "--nic-cluster", "ratings-only=" + ratings.addr}},
		{"request-host", []string{"--nic-cluster", "ratings=" + ratings.addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats, pcap := filepath.Join(dir, tc.name+".nic.json"), filepath.Join(dir, tc.name+".pcap")
			reviews := startProc(t, bin, "reviews", append([]string{"--service", "reviews", "--version", "v3",
				"--ratings", "ratings:9080", "--nic", "--nic-stats", stats, "--nic-pcap", pcap}, tc.args...)...)
			for i := 0; i < pages; i++ {
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + reviews.addr + "/reviews/0")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), `"stars"`) || strings.Contains(string(body), "unavailable") {
					t.Fatalf("reviews answered %d without ratings:\n%s\nstderr:\n%s", resp.StatusCode, body, reviews.stderr)
				}
			}
			reviews.stop(t)
			if err := <-reviews.done; err != nil {
				t.Errorf("reviews exited with %v; stderr:\n%s", err, reviews.stderr)
			}
			if !strings.Contains(reviews.stderr.String(), "nicsim live summary: model fpga-250mhz") {
				t.Errorf("no NIC summary on stderr:\n%s", reviews.stderr)
			}
			// Each page: the request in and the answer out (ingress), the
			// call to ratings out and its answer in (egress).
			r := readNICReport(t, stats)
			if r.Host != "reviews" || r.Model != "fpga-250mhz" || r.Messages != 4*pages || r.ToleranceUS != 10 ||
				r.FilterErrors != 0 || r.NICReplies != 0 || r.Underruns > r.Messages ||
				r.LatenessP50US < 0 || r.LatenessP50US > r.LatenessP90US || r.LatenessP90US > r.LatenessMaxUS {
				t.Errorf("reviews' NIC account %+v", r)
			}
			recs, err := pcapio.ReadFile(pcap)
			if err != nil {
				t.Fatal(err)
			}
			var in, out int
			for _, rec := range recs {
				if strings.Contains(string(rec.Data), "GET /reviews/0 ") {
					in++
				}
				if strings.Contains(string(rec.Data), "GET /ratings/0 ") {
					out++
				}
			}
			if in != pages || out != pages {
				t.Errorf("pcap of %d frames: %d requests to reviews, %d to ratings; want %d each", len(recs), in, out, pages)
			}
		})
	}
	ratings.stop(t)
	if r := readNICReport(t, ratingsStats); r.Host != "ratings" || r.Messages != 2*2*pages || r.NICReplies != 0 {
		t.Errorf("ratings' NIC account %+v, want %d messages", r, 2*2*pages)
	}
}

func readNICReport(t *testing.T, path string) bench.NICReport {
	t.Helper()
	var r bench.NICReport
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		t.Fatalf("NIC account: %v", err)
	}
	return r
}

// checkNICAccounts reads the account each host's NIC of a stopped
// nic-offload deployment wrote: every NIC saw traffic, none failed a
// filter or answered for an upstream, and productpage's NIC carried at
// least each page's six messages (the page, details and reviews, both ways).
func checkNICAccounts(t *testing.T, u *upProc, pages int64) {
	t.Helper()
	for name := range u.pids {
		r := readNICReport(t, filepath.Join(u.logDir, name+".nic.json"))
		if r.Model != "fpga-250mhz" || r.Messages == 0 || r.FilterErrors != 0 || r.NICReplies != 0 || r.Underruns > r.Messages {
			t.Errorf("%s's NIC account %+v", name, r)
		}
		if name == "productpage" && r.Messages < 6*pages {
			t.Errorf("productpage's NIC released %d messages for %d pages, want at least %d", r.Messages, pages, 6*pages)
		}
		if name == "productpage" && r.RequestsIn < pages {
			t.Errorf("productpage's NIC let in %d requests for %d pages", r.RequestsIn, pages)
		}
		// Every message crossing fpga-250mhz takes at least its PCIe DMA
		// transfer (≈ 0.8 µs) and the MAC/PHY (≈ 0.13 µs) of modeled time.
		if r.ModeledUS < 0.9*float64(r.Messages) {
			t.Errorf("%s's NIC accounts %.1f µs of modeled time for %d messages", name, r.ModeledUS, r.Messages)
		}
	}
}

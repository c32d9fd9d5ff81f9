package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
	"github.com/nicrt/nicrt/bookinfo-harness/latency"
)

// results builds a two-series, two-level sweep from given latencies (in
// milliseconds); the renderer's input is data, not a measurement.
func results(repeat int) *bench.Results {
	mk := func(series string, conns, rep int, versions map[string]uint64, ms ...int) bench.Run {
		rec := &latency.Recorder{}
		for _, v := range ms {
			rec.Record(time.Duration(v) * time.Millisecond)
		}
		h := latency.Merge(rec)
		return bench.Run{Series: series, Connections: conns, Repeat: rep, ElapsedSec: 2, Requests: h.Count(),
			Codes: map[int]uint64{200: h.Count()}, Versions: versions, Latency: h}
	}
	r := &bench.Results{Format: bench.FormatVersion, Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine:  bench.Machine{Hostname: "box", CPUs: 2, OS: "linux", Arch: "amd64"},
		Software: bench.Software{GoVersion: "go1.26", Commit: "0123456789abcdef", Fortio: "v1.75.3"},
		Series: []bench.Series{{Name: "direct", URL: "http://127.0.10.1:1/productpage", Topology: "direct", Processes: []string{"ratings", "productpage"},
			NICs: []bench.NICReport{{Host: "productpage", Model: "fpga-250mhz", Messages: 200, Underruns: 3, LatenessP90US: 12.5}}},
			{Name: "istio", URL: "http://ingress/productpage"}},
		Baseline: "direct",
		Skipped:  []bench.Skipped{{Name: "nic-offload", Reason: "not built"}},
	}
	for rep := 1; rep <= repeat; rep++ {
		r.Runs = append(r.Runs,
			mk("direct", 1, rep, map[string]uint64{"v3": 10}, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3),
			mk("istio", 1, rep, map[string]uint64{"v1": 5, "v2": 5}, 2, 2, 2, 2, 2, 4, 4, 4, 4, 6*rep),
			mk("direct", 4, rep, map[string]uint64{"v3": 10}, 4, 4, 4, 4, 4, 8, 8, 8, 8, 9),
			mk("istio", 4, rep, map[string]uint64{"v1": 5, "": 5}, 8, 8, 8, 8, 8, 16, 16, 16, 16, 20))
	}
	r.Settings = bench.SettingsOf(bench.Config{Connections: []int{1, 4}, Duration: 2 * time.Second, Warmup: time.Second, Repeat: repeat})
	r.Summarize()
	return r
}

func TestWrite(t *testing.T) {
	for _, repeat := range []int{1, 3} {
		dir := t.TempDir()
		r := results(repeat)
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
		// results.json reads back to the same summary.
		data, err := os.ReadFile(filepath.Join(dir, JSONFile))
		if err != nil {
			t.Fatal(err)
		}
		back, err := bench.ReadResults(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.Runs) != 4*repeat || len(back.Cells) != 4 || back.Cells[1].P90 != r.Cells[1].P90 {
			t.Errorf("results.json: %d runs, cells %+v", len(back.Runs), back.Cells)
		}

		// results.csv: a header and one row per cell, numbers that parse.
		f, _ := os.Open(filepath.Join(dir, CSVFile))
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5 || strings.Join(rows[0][:4], ",") != "series,connections,repeats,requests" || rows[0][13] != "p90_ratio_to_direct" {
			t.Fatalf("csv %v", rows)
		}
		if got := strings.Join(rows[0][14:], ","); got != "share_v1,share_v2,share_v3,share_none" {
			t.Errorf("share columns %s", got)
		}
		for _, row := range rows[1:] {
			p90, err := strconv.ParseFloat(row[8], 64)
			if err != nil || p90 <= 0 {
				t.Errorf("row %v: p90 %q", row, row[8])
			}
		}
		// istio at 1 conn: p90 2x direct's (4 ms vs 2 ms).
		if rows[3][0] != "istio" || rows[3][1] != "1" || rows[3][8] != "4.000" || rows[3][13] != "2.0000" {
			t.Errorf("istio row %v", rows[3])
		}

		md, _ := os.ReadFile(filepath.Join(dir, MDFile))
		for _, want := range []string{"# Bookinfo /productpage latency by topology", "| direct ", "4.00 (×2.00)", "![p90 latency vs connections](p90-vs-connections.png)",
			"**nic-offload** — not measured: not built", "on box: 2 CPUs", "0123456789ab",
			"## Simulated NICs", "| direct | productpage | fpga-250mhz | 200 | 0.00 | 3 (1.5%) | 0.0 | 12.5 |"} {
			if !strings.Contains(string(md), want) {
				t.Errorf("report.md lacks %q:\n%s", want, md)
			}
		}

		pf, _ := os.Open(filepath.Join(dir, PNGFile))
		img, err := png.Decode(pf)
		pf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 600 {
			t.Errorf("png %v", b)
		}
		svg, _ := os.ReadFile(filepath.Join(dir, SVGFile))
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" {
			t.Errorf("svg: %v %v", root.XMLName, err)
		}
		if !bytes.Contains(svg, []byte("istio")) || !bytes.Contains(svg, []byte("p90 latency (ms)")) {
			t.Error("svg lacks the legend or the axis label")
		}
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	r := results(1)
	r.Runs[3].Codes = map[int]uint64{200: 9, -1: 1}
	r.Summarize()
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "| series | 1 conn       | 4 conns              |\n" +
		"|--------|-------------:|---------------------:|\n" +
		"| direct | 2.00         | 8.00                 |\n" +
		"| istio  | 4.00 (×2.00) | 16.00 (×2.00) ⚠1 err |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		labels string
	}{
		{0, 17.6, "0,2,4,6,8,10,12,14,16"},
		{0, 0.9, "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"},
		{0, 430, "0,50,100,150,200,250,300,350,400"},
		{0, 60, "0,10,20,30,40,50,60"},
	} {
		var ls []string
		for _, tk := range (msTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				ls = append(ls, tk.Label)
			}
		}
		if got := strings.Join(ls, ","); got != tc.labels {
			t.Errorf("ticks(%v, %v) = %s, want %s", tc.lo, tc.hi, got, tc.labels)
		}
	}
}

// TestProjections: a NIC series' modelled cards projected onto the
// baseline, beside the sidecars they replace, and what offloading wins back;
// in report.md, on the terminal table and as plot lines.
func TestProjections(t *testing.T) {
	r := results(1)
	// Rename istio to the sidecar series the offload is compared with, and
	// add a measured nic-offload series whose NICs account 0.5 ms per page.
	for i := range r.Runs {
		if r.Runs[i].Series == "istio" {
			r.Runs[i].Series = "sidecar-both"
		}
	}
	r.Series[1] = bench.Series{Name: "sidecar-both", Topology: "sidecar-both"}
	r.Series = append(r.Series, bench.Series{Name: "nic-offload", Topology: "nic-offload", NICs: []bench.NICReport{
		{Host: "productpage", ModeledUS: 3000, RequestsIn: 10}, {Host: "reviews-v3", ModeledUS: 2000, RequestsIn: 10}}})
	r.Runs = append(r.Runs, r.Runs[1], r.Runs[3])
	r.Runs[4].Series, r.Runs[5].Series = "nic-offload", "nic-offload"
	r.Summarize()
	var b strings.Builder
	if err := WriteProjections(&b, r); err != nil {
		t.Fatal(err)
	}
	// direct p90 2 and 8 ms, sidecar-both 4 and 16: the sidecars add 2 and
	// 8 ms, the cards 0.5 ms, so offloading wins back 75 % and 94 %.
	want := "| series                                   | 1 conn       | 4 conns       |\n" +
		"|------------------------------------------|-------------:|--------------:|\n" +
		"| direct (measured)                        | 2.00         | 8.00          |\n" +
		"| sidecar-both (measured)                  | 4.00 (×2.00) | 16.00 (×2.00) |\n" +
		"| nic-offload, modelled card: +500 µs/page | 2.50 (×1.25) | 8.50 (×1.06)  |\n" +
		"\nOffloading sidecar-both's filters to the modelled cards wins back 75.0% at 1, 93.8% at 4 connections of the p90 its sidecars add.\n"
	if b.String() != want {
		t.Errorf("projections:\n%s\nwant:\n%s", b.String(), want)
	}
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MDFile))
	if !strings.Contains(string(md), "## What the modelled cards would give") || !strings.Contains(string(md), want) {
		t.Errorf("report.md lacks the projections:\n%s", md)
	}
	svg, _ := os.ReadFile(filepath.Join(dir, SVGFile))
	if !bytes.Contains(svg, []byte("nic-offload, modelled card (projected)")) {
		t.Error("the plot lacks the projected line")
	}

	// Without NIC accounts there is nothing to project, and no section.
	r = results(1)
	r.Series[0].NICs = nil
	b.Reset()
	WriteProjections(&b, r)
	md2 := new(bytes.Buffer)
	WriteMarkdown(md2, r)
	if b.Len() != 0 || strings.Contains(md2.String(), "modelled cards") {
		t.Errorf("projections without NIC accounts:\n%s", b.String())
	}
}

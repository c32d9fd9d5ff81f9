package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/internal/bookinfotest"
	"github.com/nicrt/nicrt/bookinfo-harness/latency"
)

func TestCheck(t *testing.T) {
	ok := Config{Series: []Series{{Name: "a", URL: "http://x/"}}, Connections: []int{1}, Duration: time.Second, Repeat: 1}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Series = nil }, "nothing to measure"},
		{func(c *Config) { c.Connections = nil }, "no connection levels"},
		{func(c *Config) { c.Connections = []int{1, 0} }, "connection level 0"},
		{func(c *Config) { c.Duration = 0 }, "duration 0s"},
		{func(c *Config) { c.Warmup = -time.Second }, "warmup -1s"},
		{func(c *Config) { c.Repeat = 0 }, "repeat 0"},
		{func(c *Config) { c.QPS = -1 }, "qps -1"},
		{func(c *Config) { c.Series = append(c.Series, Series{Name: "a"}) }, `series name "a"`},
		{func(c *Config) { c.Series = []Series{{}} }, `series name ""`},
	} {
		c := ok
		c.Series = append([]Series{}, ok.Series...)
		tc.mod(&c)
		if err := c.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestPlanInterleaves(t *testing.T) {
	c := Config{Series: []Series{{Name: "A"}, {Name: "B"}}, Connections: []int{1, 4}, Repeat: 2}
	var got []string
	for i, s := range c.Plan() {
		if s.Index != i || s.Total != 8 {
			t.Errorf("step %d: %+v", i, s)
		}
		got = append(got, fmt.Sprintf("%s%d.%d", s.Series, s.Connections, s.Repeat))
	}
	want := "A1.1 B1.1 A1.2 B1.2 A4.1 B4.1 A4.2 B4.2"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// run makes a Run whose latencies are the given microsecond values.
func run(series string, conns, repeat int, versions map[string]uint64, codes map[int]uint64, us ...uint32) Run {
	rec := &latency.Recorder{}
	for _, v := range us {
		rec.Record(time.Duration(v) * time.Microsecond)
	}
	h := latency.Merge(rec)
	return Run{Series: series, Connections: conns, Repeat: repeat, ElapsedSec: 1, Requests: h.Count(),
		Codes: codes, Versions: versions, Latency: h}
}

func TestSummarize(t *testing.T) {
	ten := []uint32{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000}
	double := make([]uint32, len(ten))
	for i, v := range ten {
		double[i] = 2 * v
	}
	runs := []Run{
		run("direct", 1, 1, map[string]uint64{"v3": 10}, map[int]uint64{200: 10}, ten...),
		run("both", 1, 1, map[string]uint64{"v1": 4, "v2": 3, "v3": 3}, map[int]uint64{200: 9, 503: 1}, double...),
		run("both", 1, 2, map[string]uint64{"v1": 3, "v2": 4, "v3": 3}, map[int]uint64{200: 10}, ten...),
		run("direct", 4, 1, map[string]uint64{"v3": 10}, map[int]uint64{200: 10}, ten...),
	}
	cells := Summarize([]string{"direct", "both"}, runs, "direct")
	if len(cells) != 3 {
		t.Fatalf("cells %+v", cells)
	}
	d1, d4, b1 := cells[0], cells[1], cells[2]
	if d1.Series != "direct" || d1.Connections != 1 || d4.Connections != 4 || b1.Series != "both" {
		t.Fatalf("order %+v", cells)
	}
	if d1.P90 != 9 || d1.P50 != 5 || d1.Max != 10 || d1.RatioToBaseline != 1 || d1.Shares["v3"] != 1 || d1.QPS != 10 {
		t.Errorf("direct,1: %+v", d1)
	}
	// both,1 pools 20 latencies: 1..10 ms and 2..20 ms; p90 is the 18th.
	if b1.Repeats != 2 || b1.Requests != 20 || b1.Errors != 1 || b1.P90 != 16 || b1.P90Min != 9 || b1.P90Max != 18 {
		t.Errorf("both,1: %+v", b1)
	}
	if math.Abs(b1.RatioToBaseline-16.0/9) > 1e-9 || b1.Shares["v1"] != 0.35 || b1.Shares["v2"] != 0.35 || b1.Shares["v3"] != 0.3 {
		t.Errorf("both,1 ratio %v shares %v", b1.RatioToBaseline, b1.Shares)
	}
	if cells := Summarize([]string{"direct"}, runs[:1], "none"); cells[0].RatioToBaseline != 0 {
		t.Errorf("ratio without a baseline: %v", cells[0].RatioToBaseline)
	}
}

func TestReadResults(t *testing.T) {
	good := &Results{Format: FormatVersion, Series: []Series{{Name: "direct"}},
		Runs: []Run{run("direct", 1, 1, nil, map[int]uint64{200: 2}, 10, 20)}}
	b, _ := json.Marshal(good)
	if _, err := ReadResults(b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Results)
		want string
	}{
		{func(r *Results) { r.Format = 99 }, "format 99"},
		{func(r *Results) { r.Runs[0].Series = "ghost" }, `runs[0]: series "ghost" is not listed`},
		{func(r *Results) { r.Runs[0].Requests = 3 }, "runs[0]: 3 requests but 2 latencies"},
	} {
		r := *good
		r.Runs = append([]Run{}, good.Runs...)
		tc.mod(&r)
		b, _ := json.Marshal(&r)
		if _, err := ReadResults(b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	if _, err := ReadResults([]byte(`{"format": 1, "runs": [{"latency_us": {"us": [2, 1], "count": [1, 1]}}]}`)); err == nil || !strings.Contains(err.Error(), "does not increase") {
		t.Errorf("bad histogram: %v", err)
	}
}

func FuzzReadResults(f *testing.F) {
	good := &Results{Format: FormatVersion, Series: []Series{{Name: "direct"}},
		Runs: []Run{run("direct", 1, 1, map[string]uint64{"v3": 2}, map[int]uint64{200: 2}, 10, 20)}}
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadResults(data)
		if err != nil {
			return
		}
		r.Summarize() // whatever is accepted can be summarized
	})
}

// TestSweep measures two real (in-process) Bookinfo deployments, one per
// reviews version, interleaved.
func TestSweep(t *testing.T) {
	c := Config{Series: []Series{{Name: "one", URL: bookinfotest.App(t, "v1")}, {Name: "three", URL: bookinfotest.App(t, "v3")}},
		Connections: []int{1, 2}, Duration: 150 * time.Millisecond, Repeat: 1}
	var seen []string
	runs, err := Sweep(context.Background(), c, func(s Step) { seen = append(seen, s.Series) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "one,three,one,three" || len(runs) != 4 {
		t.Fatalf("steps %v, %d runs", seen, len(runs))
	}
	for _, r := range runs {
		want := map[string]string{"one": "v1", "three": "v3"}[r.Series]
		if r.Requests == 0 || r.Versions[want] != r.Requests || r.Errors() != 0 || r.Latency.Count() != r.Requests {
			t.Errorf("%+v", r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if runs, err := Sweep(ctx, c, nil); err != context.Canceled || len(runs) != 0 {
		t.Errorf("cancelled sweep: %d runs, %v", len(runs), err)
	}
}

package wasmrun

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/runtime"
)

// benchCase is one filter configuration and request the benchmarks run.
type benchCase struct {
	name, filter, config string
	user                 string // end-user header value, "" for none
}

// benchCases are the streams the benchmarks measure: the empty chain, the
// filter machinery alone (passthrough), every lb policy, route with a
// header rule and with a weighted split, and fault.
var benchCases = []benchCase{
	{name: "none"},
	{name: "passthrough", filter: "passthrough"},
	{name: "lb-round_robin", filter: "lb", config: "lb/reviews-round-robin.json"},
	{name: "lb-random", filter: "lb", config: `{"service": "reviews", "policy": "random", "clusters": ["reviews-v1", "reviews-v2", "reviews-v3"]}`},
	{name: "lb-weighted", filter: "lb", config: "lb/reviews-weighted-90-10.json"},
	{name: "lb-least_request", filter: "lb", config: "lb/reviews-least-request.json"},
	{name: "lb-ring_hash", filter: "lb", config: "lb/reviews-ring-hash.json", user: "jason"},
	{name: "route-jason-v2-v3/jason", filter: "route", config: "route/reviews-jason-v2-v3.json", user: "jason"},
	{name: "route-jason-v2-v3/other", filter: "route", config: "route/reviews-jason-v2-v3.json", user: "alice"},
	{name: "route-90-10", filter: "route", config: "route/reviews-90-10.json"},
	{name: "fault-abort/no-fault", filter: "fault", config: "fault/ratings-test-abort.json", user: "alice"},
	{name: "fault-abort/abort", filter: "fault", config: "fault/ratings-test-abort.json", user: "jason"},
}

// benchStream is a case ready to run: its chain, request and instruction count.
type benchStream struct {
	benchCase
	chain     *runtime.Chain
	authority string
	instr     uint64
	req, resp runtime.Fields
}

func newBenchStream(b *testing.B, h *runtime.Host, bc benchCase) *benchStream {
	cfg := bc.config
	if len(cfg) > 0 && cfg[0] != '{' {
		cfg = filtertest.ReadExample(b, cfg)
	}
	s := &benchStream{benchCase: bc, chain: runtime.NewChain(), authority: "reviews:9080"}
	if bc.filter == "fault" {
		s.authority = "ratings:9080"
	}
	if bc.filter != "" {
		s.chain = runtime.NewChain(Load(b, h, bc.filter, cfg, 1))
		s.instr = instructions(b, h, bc.filter, cfg, benchRequest(s.authority, bc.user))
	}
	s.resp = runtime.Fields{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/json"}}
	return s
}

// run sends one complete stream through the chain.
func (s *benchStream) run(ctx context.Context) {
	s.req = append(s.req[:0], benchRequest(s.authority, s.user)...)
	st := s.chain.NewStream(runtime.StreamInfo{})
	if st.RequestHeaders(ctx, &s.req, true) == runtime.Continue {
		s.resp = append(s.resp[:0], runtime.Field{Name: ":status", Value: "200"}, runtime.Field{Name: "content-type", Value: "application/json"})
		st.ResponseHeaders(ctx, &s.resp, true)
	}
	st.Close()
}

// BenchmarkFilterRequest is the per-request cost of each filter in nicrt's
// runtime: one complete stream (context create, request headers with 10
// headers, response headers, done/log/delete) through a chain holding only
// that filter, on a pool of one VM. "none" is the same stream through an
// empty chain. Besides ns/op it reports cpu-ns/op (the process's CPU time
// per stream, which a busy machine inflates less than wall time) and
// wasm-instr/op: the wasm instructions the filter executed for one such
// stream, proxy_on_context_create through proxy_on_delete (from an
// instruction-counting load of the same module), the input of the NIC's
// timing model, which does not vary from machine to machine.
//
// Each case runs on its own, one after another; to compare filters on a
// shared machine use BenchmarkFilterSideBySide.
//
//	go test -run '^$' -bench 'FilterRequest$' -count 6 ./filters/internal/wasmrun
func BenchmarkFilterRequest(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := NewHost(b)
			s := newBenchStream(b, h, bc)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				s.run(ctx)
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(s.instr), "wasm-instr/op")
		})
	}
}

// sideBySideBatch is how many streams of one case a round runs before
// moving to the next case.
const sideBySideBatch = 500

// BenchmarkFilterSideBySide measures every case of BenchmarkFilterRequest
// in alternation, for ratios that a shared, noisy machine cannot skew: one
// operation is a round of sideBySideBatch streams of each case in turn, so
// a neighbour's burst of load falls on all of them alike. At the end it
// prints a table of each case's median over the rounds (wall and CPU ns per
// stream, and both as a multiple of passthrough's median) with its wasm
// instructions per stream, and reports the lb and route ratios as metrics
// (<case>/passthrough, CPU time).
//
//	go test -run '^$' -bench FilterSideBySide -benchtime 40x ./filters/internal/wasmrun
func BenchmarkFilterSideBySide(b *testing.B) {
	h, _ := NewHost(b)
	streams := make([]*benchStream, len(benchCases))
	for i, bc := range benchCases {
		streams[i] = newBenchStream(b, h, bc)
	}
	ctx := context.Background()
	for _, s := range streams { // warm up: grow each VM's heap, fill the caches
		for range sideBySideBatch {
			s.run(ctx)
		}
	}
	wall := make([][]float64, len(streams))
	cpu := make([][]float64, len(streams))
	for b.Loop() {
		for i, s := range streams {
			t0, c0 := time.Now(), processCPU()
			for range sideBySideBatch {
				s.run(ctx)
			}
			cpu[i] = append(cpu[i], float64(processCPU()-c0)/sideBySideBatch)
			wall[i] = append(wall[i], float64(time.Since(t0).Nanoseconds())/sideBySideBatch)
		}
	}
	const pt = 1 // streams[1] is passthrough
	ptWall, ptCPU := median(wall[pt]), median(cpu[pt])
	var tab strings.Builder
	fmt.Fprintf(&tab, "%d rounds of %d streams per case; medians\n", b.N, sideBySideBatch)
	fmt.Fprintf(&tab, "%-26s %9s %9s %8s %8s %12s %8s\n", "case", "wall ns", "cpu ns", "wall×pt", "cpu×pt", "wasm instr", "instr×pt")
	for i, s := range streams {
		w, c := median(wall[i]), median(cpu[i])
		fmt.Fprintf(&tab, "%-26s %9.0f %9.0f %8.2f %8.2f %12d %8.2f\n", s.name, w, c, w/ptWall, c/ptCPU,
			s.instr, float64(s.instr)/float64(streams[pt].instr))
		if strings.HasPrefix(s.name, "lb-") || strings.HasPrefix(s.name, "route-") {
			b.ReportMetric(c/ptCPU, strings.ReplaceAll(s.name, "/", ":")+"/passthrough")
		}
	}
	// Printed rather than logged: the testing package cuts a benchmark's
	// log to ten lines.
	fmt.Print(tab.String())
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// processCPU returns the CPU time the process has used, in nanoseconds.
// On a shared machine a benchmark's wall time includes the time it spent
// descheduled while other jobs ran; its CPU time does not, so cpu-ns/op
// varies less from run to run than ns/op. It counts every thread of the
// process (the garbage collector's included), so it is the whole cost.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchRequest is a productpage → reviews call with 10 headers (11 with end-user).
func benchRequest(authority, user string) runtime.Fields {
	f := runtime.Fields{
		{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/reviews/0"}, {Name: ":authority", Value: authority}, {Name: ":scheme", Value: "http"},
		{Name: "user-agent", Value: "fortio.org/fortio-1.75"}, {Name: "accept", Value: "*/*"}, {Name: "x-request-id", Value: "4b9e3c1a-6f3c-4f43-9d1e-2c5b7a1e0f00"},
		{Name: "x-b3-traceid", Value: "80f198ee56343ba864fe8b2a57d3eff7"}, {Name: "x-b3-spanid", Value: "e457b5a2e4d86bd1"}, {Name: "x-b3-sampled", Value: "1"},
	}
	if user != "" {
		f = append(f, runtime.Field{Name: "end-user", Value: user})
	}
	return f
}

// instructions runs one stream through an instruction-counting load of the
// filter and returns the wasm instructions it executed. The first stream
// of a fresh VM also pays one-time costs (e.g. growing Go's heap), so the
// count of the second stream is returned.
func instructions(b *testing.B, h *runtime.Host, filter, cfg string, req runtime.Fields) uint64 {
	p, err := h.Load(context.Background(), Build(b, filter), runtime.PluginConfig{
		Name: filter + "-counted", Configuration: []byte(cfg), PoolSize: 1, CountInstructions: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c := runtime.NewChain(p)
	var n uint64
	for i := 0; i < 2; i++ {
		r := req.Clone()
		s := c.NewStream(runtime.StreamInfo{})
		resp := runtime.Fields{{Name: ":status", Value: "200"}}
		if s.RequestHeaders(context.Background(), &r, true) == runtime.Continue {
			s.ResponseHeaders(context.Background(), &resp, true)
		}
		s.Close()
		n = s.Instructions()
	}
	return n
}

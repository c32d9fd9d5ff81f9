package icount

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// BenchmarkOverhead runs the same workload on the original module and on its
// instrumented copy with wazero's default engine (the compiler on amd64 and
// arm64). The two alternate within every iteration, so both see the same
// machine load (this machine is shared and noisy); it reports each one's
// median time per operation, the median of the paired ratios as overhead in
// percent, and the instructions counted per operation. ns/op is the time of
// one original plus one instrumented operation (times the batch).
//
//	go test -run '^$' -bench Overhead -benchtime 2s ./runtime/internal/icount
func BenchmarkOverhead(b *testing.B) {
	type workload struct {
		name  string
		build func(b *testing.B) []byte
		// setup instantiates the module and returns one operation.
		setup func(b *testing.B, r wazero.Runtime, wasm []byte) (api.Module, func())
		batch int // operations per timing, so a timing spans well over a clock read
	}
	call := func(fn string, args ...uint64) func(b *testing.B, r wazero.Runtime, wasm []byte) (api.Module, func()) {
		return func(b *testing.B, r wazero.Runtime, wasm []byte) (api.Module, func()) {
			ctx := context.Background()
			(&testHost{}).instantiate(b, r)
			m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
			if err != nil {
				b.Fatal(err)
			}
			f := m.ExportedFunction(fn)
			return m, func() {
				if _, err := f.Call(ctx, args...); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	workloads := []workload{{
		// Short basic blocks in a tight loop: close to the worst case.
		name:  "wat-sum-loop-n1000",
		build: func(b *testing.B) []byte { return wat(b, countCases[0].wat) },
		setup: call("run", 1000),
		batch: 10,
	}, {
		name:  "c-xorshift-loop-n1000",
		build: func(b *testing.B) []byte { return buildCFilter(b) },
		setup: call("cfilter_loop", 1000),
		batch: 4,
	}, {
		// One request through the C filter's callbacks, host calls included.
		name:  "c-filter-request",
		build: func(b *testing.B) []byte { return buildCFilter(b) },
		setup: func(b *testing.B, r wazero.Runtime, wasm []byte) (api.Module, func()) {
			ctx := context.Background()
			h := &testHost{config: []byte("bench"), quiet: true}
			h.instantiate(b, r)
			m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
			if err != nil {
				b.Fatal(err)
			}
			fns := map[string]api.Function{}
			for _, n := range []string{"proxy_on_context_create", "proxy_on_configure", "proxy_on_request_headers",
				"proxy_on_response_headers", "proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
				fns[n] = m.ExportedFunction(n)
			}
			do := func(fn string, args ...uint64) {
				if _, err := fns[fn].Call(ctx, args...); err != nil {
					b.Fatal(err)
				}
			}
			do("proxy_on_context_create", 1, 0)
			do("proxy_on_configure", 1, 5)
			req := [][2]string{{":method", "GET"}, {":path", "/productpage"}, {":authority", "bookinfo"}}
			return m, func() {
				h.request, h.response = append(h.request[:0], req...), h.response[:0]
				do("proxy_on_context_create", 2, 1)
				do("proxy_on_request_headers", 2, 3, 1)
				do("proxy_on_response_headers", 2, 0, 1)
				do("proxy_on_log", 2)
				do("proxy_on_done", 2)
				do("proxy_on_delete", 2)
			}
		},
	}, {
		// A stock-Go reactor: sort and hash 100 ints, allocating.
		name:  "go-reactor-work-n100",
		build: func(b *testing.B) []byte { return goGuest(b, goReactorSrc, "-buildmode=c-shared") },
		setup: call("work", 100),
	}}
	for _, w := range workloads {
		orig := w.build(b)
		inst := mustInstrument(b, orig)
		b.Run(w.name, func(b *testing.B) {
			_, origOp := w.setup(b, newRuntime(b, nil), orig)
			m, instOp := w.setup(b, newRuntime(b, nil), inst)
			batch := max(w.batch, 1)
			origOp() // warm up
			instOp()
			before := readCounter(b, m)
			origT := make([]float64, 0, b.N)
			instT := make([]float64, 0, b.N)
			ratio := make([]float64, 0, b.N)
			b.ResetTimer()
			timed := func(op func()) float64 {
				t0 := time.Now()
				for range batch {
					op()
				}
				return float64(time.Since(t0).Nanoseconds()) / float64(batch)
			}
			for i := range b.N {
				// Alternate which goes first, so neither always runs on
				// caches the other warmed.
				var o, n float64
				if i%2 == 0 {
					o, n = timed(origOp), timed(instOp)
				} else {
					n, o = timed(instOp), timed(origOp)
				}
				origT, instT, ratio = append(origT, o), append(instT, n), append(ratio, n/o)
			}
			b.StopTimer()
			// Medians of paired samples: a load spike hits a pair, not
			// one side of the comparison.
			ops := float64(b.N * batch)
			b.ReportMetric(median(origT), "orig-ns/op")
			b.ReportMetric(median(instT), "inst-ns/op")
			b.ReportMetric((median(ratio)-1)*100, "%overhead")
			b.ReportMetric(float64(readCounter(b, m)-before)/ops, "instr/op")
		})
	}
}

// median returns the median of xs (sorting it).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// BenchmarkInstrument measures Instrument itself on a stock-Go module of
// about 2.8 MB (fmt, sort, crypto/sha256, goroutines) and on the C guest.
//
//	go test -run '^$' -bench Instrument -benchtime 20x ./runtime/internal/icount
func BenchmarkInstrument(b *testing.B) {
	for _, m := range []struct {
		name string
		wasm func(b *testing.B) []byte
	}{
		{"go-command", func(b *testing.B) []byte { return goGuest(b, goCommandSrc) }},
		{"c-filter", func(b *testing.B) []byte { return buildCFilter(b) }},
	} {
		wasm := m.wasm(b)
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(wasm)))
			b.ReportAllocs()
			var out []byte
			for range b.N {
				var err error
				if out, err = Instrument(wasm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)-len(wasm))/float64(len(wasm))*100, "%growth")
		})
	}
}

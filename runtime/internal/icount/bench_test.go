package icount

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// BenchmarkOverhead runs the same workload on the original module, on its
// instrumented copy (Count), on its interruptible copy (Interrupt), all
// three without WithCloseOnContextDone, and on the original with
// WithCloseOnContextDone(true), the mechanism Interrupt replaces, with
// wazero's default engine (the compiler on amd64 and arm64). The four
// alternate within every iteration, so all see the same machine load (this
// machine is shared and noisy); it reports each one's minimum time per
// operation (the code is deterministic: noise only adds time, so over many
// short samples the minimum is the steadiest estimate here), the overhead
// of each minimum over the original's in percent, and the instructions
// counted per operation. ns/op is the time of one operation of each variant
// (times the batch).
//
//	go test -run '^$' -bench Overhead -benchtime 2s ./runtime/internal/icount
func BenchmarkOverhead(b *testing.B) {
	type workload struct {
		name  string
		build func(b *testing.B) []byte
		// setup instantiates the module and returns one operation.
		setup func(b *testing.B, ctx context.Context, r wazero.Runtime, wasm []byte) (api.Module, func())
		batch int // operations per timing, so a timing spans well over a clock read
	}
	call := func(fn string, args ...uint64) func(*testing.B, context.Context, wazero.Runtime, []byte) (api.Module, func()) {
		return func(b *testing.B, ctx context.Context, r wazero.Runtime, wasm []byte) (api.Module, func()) {
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
		setup: func(b *testing.B, ctx context.Context, r wazero.Runtime, wasm []byte) (api.Module, func()) {
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
	type variant struct {
		name    string // metric prefix
		rewrite func(b *testing.B, orig []byte) []byte
		ctxDone bool // WithCloseOnContextDone(true)
	}
	same := func(_ *testing.B, orig []byte) []byte { return orig }
	variants := []variant{
		{"orig", same, false},
		{"count", func(b *testing.B, w []byte) []byte { return mustInstrument(b, w) }, false},
		{"intr", func(b *testing.B, w []byte) []byte { return mustRewrite(b, w, Options{Interrupt: true}) }, false},
		{"ctxdone", same, true},
	}
	for _, w := range workloads {
		orig := w.build(b)
		b.Run(w.name, func(b *testing.B) {
			// A cancellable context, as a runtime with a watchdog uses.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ops := make([]func(), len(variants))
			var counted api.Module
			for i, v := range variants {
				m, op := w.setup(b, ctx, newRuntime(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(v.ctxDone)), v.rewrite(b, orig))
				op() // warm up
				ops[i] = op
				if v.name == "count" {
					counted = m
				}
			}
			before := readCounter(b, counted)
			batch := max(w.batch, 1)
			best := make([]float64, len(variants))
			for j := range best {
				best[j] = math.Inf(1)
			}
			b.ResetTimer()
			for i := range b.N {
				// Rotate which goes first, so none always runs on caches
				// another warmed.
				for k := range variants {
					j := (i + k) % len(variants)
					t0 := time.Now()
					for range batch {
						ops[j]()
					}
					best[j] = min(best[j], float64(time.Since(t0).Nanoseconds())/float64(batch))
				}
			}
			b.StopTimer()
			for j, v := range variants {
				b.ReportMetric(best[j], v.name+"-ns/op")
				if j > 0 {
					b.ReportMetric((best[j]/best[0]-1)*100, "%"+v.name)
				}
			}
			b.ReportMetric(float64(readCounter(b, counted)-before)/float64(b.N*batch), "instr/op")
		})
	}
}

// BenchmarkRewrite measures Rewrite itself, with each option set, on a
// stock-Go module of about 2.8 MB (fmt, sort, crypto/sha256, goroutines) and
// on the C guest; %growth is the size the rewrite adds.
//
//	go test -run '^$' -bench Rewrite -benchtime 20x ./runtime/internal/icount
func BenchmarkRewrite(b *testing.B) {
	for _, m := range []struct {
		name string
		wasm func(b *testing.B) []byte
	}{
		{"go-command", func(b *testing.B) []byte { return goGuest(b, goCommandSrc) }},
		{"c-filter", func(b *testing.B) []byte { return buildCFilter(b) }},
	} {
		wasm := m.wasm(b)
		for _, o := range []struct {
			name string
			o    Options
		}{{"count", Options{Count: true}}, {"interrupt", Options{Interrupt: true}}, {"both", Options{Count: true, Interrupt: true}}} {
			b.Run(m.name+"/"+o.name, func(b *testing.B) {
				b.SetBytes(int64(len(wasm)))
				b.ReportAllocs()
				var out []byte
				for range b.N {
					var err error
					if out, err = Rewrite(wasm, o.o); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out)-len(wasm))/float64(len(wasm))*100, "%growth")
			})
		}
	}
}

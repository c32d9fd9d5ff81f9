package wasmcheck

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

// BenchmarkCheck measures Check on real modules, and for scale what
// wazero's CompileModule takes for the same bytes (a fresh runtime each
// time, so nothing is cached).
//
//	go test -run '^$' -bench . ./runtime/internal/wasmcheck
func BenchmarkCheck(b *testing.B) {
	for _, m := range []struct {
		name string
		wasm []byte
	}{
		{"go-filter", goFilter(b)},
		{"c-filter", cFilter(b)},
	} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(m.wasm)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(m.wasm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("wazero-compile/go-filter", func(b *testing.B) {
		wasm := goFilter(b)
		ctx := context.Background()
		b.SetBytes(int64(len(wasm)))
		for b.Loop() {
			r := wazero.NewRuntime(ctx)
			if _, err := r.CompileModule(ctx, wasm); err != nil {
				b.Fatal(err)
			}
			r.Close(ctx)
		}
	})
}

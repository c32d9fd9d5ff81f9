package icount

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument: Rewrite, with each option set (Count alone is
// Instrument), never panics and never returns output with an error; whenever
// wazero accepts the input, Rewrite either succeeds with output wazero
// accepts too (same exported functions, plus the new globals), or refuses it
// as unsupported (SIMD and the like) or because it already exports a name
// Rewrite adds, never as malformed.
func FuzzInstrument(f *testing.F) {
	for _, tc := range countCases {
		f.Add(wat(f, tc.wat))
	}
	f.Add(wat(f, envWAT))
	f.Add(wat(f, `(module (func (export "f") (result i32) v128.const i64x2 1 2 i64x2.extract_lane 0 i32.wrap_i64))`))
	f.Add(moduleWithBody([]byte{opBlock, 0x40, opLoop, 0x7f, 0x41, 1, opBrIf, 1, opEnd, 0x1a, opEnd, opEnd}))
	f.Add(moduleWithBody([]byte{0x41, 0, opIf, 0x40, opElse, opEnd, opEnd}))
	f.Add(moduleWithBody([]byte{0x41, 0, opBrTable, 2, 0, 0, 0, opEnd}))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f"))

	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	// wazero v1.12.0 allocates slices sized by counts it reads (vector
	// counts, parameter counts, data lengths, locals) before checking them
	// against the bytes present: a 15-byte module declaring 2^32-1 imports
	// kills the process with a fatal out-of-memory error. So wazero only
	// judges inputs without any LEB128 number that could reach 2^21; every
	// input still goes through Instrument.
	// It also panics on some malformed input (a code section whose size
	// overruns the module: "makeslice: len out of range"); a panic counts as
	// a rejection.
	compiles := func(b []byte) (cm wazero.CompiledModule, ok bool) {
		if hasHugeLEB(b) {
			return nil, false
		}
		defer func() {
			if recover() != nil {
				cm, ok = nil, false
			}
		}()
		cm, err := r.CompileModule(ctx, b)
		return cm, err == nil
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var outs [3][]byte
		var errs [3]error
		for i, o := range fuzzOptions {
			outs[i], errs[i] = Rewrite(b, o)
			if errs[i] != nil && outs[i] != nil {
				t.Fatalf("%+v: output returned with error %v", o, errs[i])
			}
		}
		orig, ok := compiles(b)
		if !ok {
			return // invalid input: any error (or output) is fine, no panic is the property
		}
		defer orig.Close(ctx)
		for i, o := range fuzzOptions {
			out, err := outs[i], errs[i]
			if err != nil {
				if !errors.Is(err, ErrUnsupported) && !strings.Contains(err.Error(), "already exports") {
					t.Fatalf("%+v: wazero accepts the module but Rewrite calls it malformed: %v", o, err)
				}
				continue
			}
			inst, ok := compiles(out)
			if !ok {
				t.Fatalf("%+v: rewritten module does not compile (hasHugeLEB %v)", o, hasHugeLEB(out))
			}
			oe, ie := orig.ExportedFunctions(), inst.ExportedFunctions()
			if len(oe) != len(ie) {
				t.Fatalf("%+v: exported functions %d, original %d", o, len(ie), len(oe))
			}
			for name := range oe {
				if ie[name] == nil {
					t.Fatalf("%+v: export %s lost", o, name)
				}
			}
			inst.Close(ctx)
		}
	})
}

// fuzzOptions are the option sets the fuzz targets rewrite with.
var fuzzOptions = [...]Options{{Count: true}, {Interrupt: true}, {Count: true, Interrupt: true}}

// hasHugeLEB reports whether b contains a LEB128-looking run of four or more
// bytes (three continuation bytes and one more): such a number can reach
// 2^21. Conservative: constants and data bytes can trip it too.
func hasHugeLEB(b []byte) bool {
	run := 0
	for _, c := range b {
		if c&0x80 == 0 {
			if run >= 3 {
				return true
			}
			run = 0
			continue
		}
		run++
	}
	return run >= 3
}

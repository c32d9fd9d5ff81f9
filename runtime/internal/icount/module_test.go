package icount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/leb128"
	"github.com/tetratelabs/wabin/wasm"
	"github.com/tetratelabs/wazero"
)

// rawSection is one section as framed by the test's own reader, independent
// of the package's.
type rawSection struct {
	id    byte
	bytes []byte // header and payload
}

func splitSections(t testing.TB, b []byte) []rawSection {
	t.Helper()
	var out []rawSection
	r := bytes.NewReader(b[8:])
	for r.Len() > 0 {
		start := len(b) - r.Len()
		id, _ := r.ReadByte()
		size, _, err := leb128.DecodeUint32(r)
		if err != nil || int(size) > r.Len() {
			t.Fatalf("bad section at %d", start)
		}
		r.Seek(int64(size), 1)
		out = append(out, rawSection{id, b[start : len(b)-r.Len()]})
	}
	return out
}

// checkStructure verifies what Rewrite promises about the module's shape:
// every section but global, export and code is byte-identical and in the
// same order, except that with Interrupt a module without any memory gains
// an empty one (0 pages, maximum 0); the counter (a mutable i64 = 0), the
// interrupt flag (a mutable i32 = 0) and its countdown (a mutable i32 =
// YieldInterval), as o selects them, are appended after every existing
// global, and the first two exported under GlobalName and
// InterruptGlobalName; every other export, global and function signature is
// unchanged.
func checkStructure(t *testing.T, orig, inst []byte, o Options) {
	t.Helper()
	om, err := binary.DecodeModule(orig, wasm.CoreFeaturesV2)
	if err != nil {
		t.Fatalf("wabin cannot decode the original: %v", err)
	}
	importedGlobals, importedMemories := 0, 0
	for _, imp := range om.ImportSection {
		switch imp.Type {
		case wasm.ExternTypeGlobal:
			importedGlobals++
		case wasm.ExternTypeMemory:
			importedMemories++
		}
	}
	addMemory := o.Interrupt && om.MemorySection == nil && importedMemories == 0
	rewritten := func(id byte) bool {
		return id == secGlobal || id == secExport || id == secCode || (addMemory && id == secMemory)
	}
	var kept [][]byte
	var origOrder []byte
	for _, s := range splitSections(t, orig) {
		origOrder = append(origOrder, s.id)
		if !rewritten(s.id) {
			kept = append(kept, s.bytes)
		}
	}
	var got [][]byte
	var order []byte
	for _, s := range splitSections(t, inst) {
		order = append(order, s.id)
		if !rewritten(s.id) {
			got = append(got, s.bytes)
		}
	}
	if !reflect.DeepEqual(kept, got) {
		t.Errorf("sections other than global/export/code changed or moved")
	}
	added := func(ids []byte) []byte {
		var out []byte
		for _, id := range ids {
			if id != secGlobal && id != secExport && (!addMemory || id != secMemory) {
				out = append(out, id)
			}
		}
		return out
	}
	if !bytes.Equal(added(order), added(origOrder)) {
		t.Errorf("section order %v, original %v", order, origOrder)
	}
	// The binary format's canonical order (data count before code).
	canon := map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
	last := 0
	for _, id := range order {
		if id != secCustom {
			if canon[id] <= last {
				t.Errorf("section order %v breaks the binary format's order", order)
			}
			last = canon[id]
		}
	}

	im, err := binary.DecodeModule(inst, wasm.CoreFeaturesV2)
	if err != nil {
		t.Fatalf("wabin cannot decode the rewritten module (section order %v): %v", order, err)
	}
	if addMemory {
		if m := im.MemorySection; m == nil || m.Min != 0 || m.Max != 0 || !m.IsMaxEncoded {
			t.Errorf("memory added %+v, want 0 pages with maximum 0", m)
		}
	}
	type addedGlobal struct {
		name string // "" for the countdown, not exported
		typ  wasm.ValueType
		init []byte // the constant's LEB128
	}
	var want []addedGlobal
	if o.Count {
		want = append(want, addedGlobal{GlobalName, wasm.ValueTypeI64, []byte{0}})
	}
	if o.Interrupt {
		want = append(want, addedGlobal{InterruptGlobalName, wasm.ValueTypeI32, []byte{0}},
			addedGlobal{"", wasm.ValueTypeI32, leb128.EncodeInt32(YieldInterval)})
	}
	if n := len(im.GlobalSection); n != len(om.GlobalSection)+len(want) {
		t.Fatalf("%d globals defined, want %d", n, len(om.GlobalSection)+len(want))
	}
	if len(om.GlobalSection) > 0 && !reflect.DeepEqual(im.GlobalSection[:len(om.GlobalSection)], om.GlobalSection) {
		t.Error("existing globals changed")
	}
	wantExports := append([]*wasm.Export{}, om.ExportSection...)
	for i, w := range want {
		g := im.GlobalSection[len(om.GlobalSection)+i]
		init := wasm.OpcodeI64Const
		if w.typ == wasm.ValueTypeI32 {
			init = wasm.OpcodeI32Const
		}
		if g.Type.ValType != w.typ || !g.Type.Mutable || g.Init.Opcode != init || !bytes.Equal(g.Init.Data, w.init) {
			t.Errorf("added global %d (%q) is %+v init %+v, want mutable %s = % x",
				i, w.name, g.Type, g.Init, wasm.ValueTypeName(w.typ), w.init)
		}
		if w.name != "" {
			wantExports = append(wantExports, &wasm.Export{
				Type: wasm.ExternTypeGlobal, Name: w.name, Index: uint32(importedGlobals + len(om.GlobalSection) + i),
			})
		}
	}
	if !reflect.DeepEqual(im.ExportSection, wantExports) {
		t.Errorf("exports = %v, want %v", exportNames(im.ExportSection), exportNames(wantExports))
	}
	if !reflect.DeepEqual(im.FunctionSection, om.FunctionSection) || len(im.CodeSection) != len(om.CodeSection) {
		t.Error("function signatures or count changed")
	}
	for i := range om.CodeSection {
		if !reflect.DeepEqual(im.CodeSection[i].LocalTypes, om.CodeSection[i].LocalTypes) {
			t.Errorf("locals of function %d changed", i)
		}
	}
	if _, err := newRuntime(t, nil).CompileModule(context.Background(), inst); err != nil {
		t.Errorf("wazero rejects the rewritten module: %v", err)
	}
}

// withCustomSections puts a custom section before, between and after the
// sections of b (the binary format allows them anywhere).
func withCustomSections(t testing.TB, b []byte) []byte {
	t.Helper()
	out := append([]byte{}, b[:8]...)
	custom := func(i int) {
		name := fmt.Sprintf("custom-%d", i)
		payload := append(append([]byte{byte(len(name))}, name...), 0xde, 0xad, byte(i))
		out = append(append(append(out, secCustom), byte(len(payload))), payload...)
	}
	for i, s := range splitSections(t, b) {
		custom(i)
		out = append(out, s.bytes...)
	}
	custom(99)
	return out
}

func exportNames(es []*wasm.Export) []string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%s:%d/%d", e.Name, e.Type, e.Index))
	}
	return s
}

func TestStructure(t *testing.T) {
	cases := map[string]func(t *testing.T) []byte{
		"empty module": func(t *testing.T) []byte { return wat(t, `(module)`) },
		"no globals, no exports, start function": func(t *testing.T) []byte {
			return withCustomSections(t, wat(t, `(module (memory 1) (func $s i32.const 0 i32.const 1 i32.store) (start $s)
				(data (i32.const 8) "x"))`))
		},
		"imported globals and functions, custom sections everywhere": func(t *testing.T) []byte {
			return withCustomSections(t, wat(t, `(module
				(import "env" "g" (global (mut i32)))
				(import "env" "triple" (func (param i32) (result i32)))
				(global $a i32 (i32.const 1)) (global $b (mut i64) (i64.const 2))
				(func (export "f") (result i32) global.get 0 call 0 global.get $a i32.add))`, "--debug-names"))
		},
		"count cases": func(t *testing.T) []byte { return wat(t, countCases[7].wat, "--debug-names") },
		"C guest":     func(t *testing.T) []byte { return buildCFilter(t) },
		"Go reactor":  func(t *testing.T) []byte { return goGuest(t, goReactorSrc, "-buildmode=c-shared") },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			orig := build(t)
			checkStructure(t, orig, mustInstrument(t, orig), Options{Count: true})
			for _, o := range []Options{{Interrupt: true}, {Count: true, Interrupt: true}} {
				checkStructure(t, orig, mustRewrite(t, orig, o), o)
			}
		})
	}
}

// TestStartFunctionCounted: instructions run by the start function at
// instantiation are counted from 0.
func TestStartFunctionCounted(t *testing.T) {
	src := `(module
  (global $g (mut i32) (i32.const 0))
  (func $start
    i32.const 41              ;; @s
    global.set $g             ;; @s
  )
  (start $start))`
	inst := mustInstrument(t, wat(t, src))
	m, err := newRuntime(t, nil).Instantiate(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readCounter(t, m), regionCounts(t, src)["s"]; got != want {
		t.Errorf("counter after instantiation = %d, want %d", got, want)
	}
}

// moduleWithBody encodes a module with one function of type () -> () whose
// body is given raw, possibly malformed.
func moduleWithBody(body []byte) []byte {
	return binary.EncodeModule(&wasm.Module{
		TypeSection:     []*wasm.FunctionType{{}},
		FunctionSection: []wasm.Index{0},
		CodeSection:     []*wasm.Code{{Body: body}},
	})
}

func TestErrors(t *testing.T) {
	valid := moduleWithBody([]byte{opEnd})
	withVersion2 := append([]byte{}, valid...)
	withVersion2[4] = 2
	tests := []struct {
		name        string
		wasm        func(t *testing.T) []byte
		want        []string // substrings of the error
		unsupported bool     // errors.Is(err, ErrUnsupported)
	}{
		{"empty input", func(*testing.T) []byte { return nil }, []string{"not a WebAssembly binary"}, false},
		{"text", func(*testing.T) []byte { return []byte("(module)") }, []string{"not a WebAssembly binary"}, false},
		{"component or future version", func(*testing.T) []byte { return withVersion2 }, []string{"version 02 00 00 00"}, false},
		{"truncated section size", func(*testing.T) []byte { return append(valid[:8:8], 1, 0x80) },
			[]string{"offset 0x9", "type section size", "truncated"}, false},
		{"section past the end", func(*testing.T) []byte { return append(valid[:8:8], 1, 10, 0) },
			[]string{"offset 0x8", "type section of 10 bytes runs past the end"}, false},
		{"unknown section id", func(*testing.T) []byte { return append(valid[:8:8], 14, 0) },
			[]string{"offset 0x8", "unknown section id 14"}, false},
		{"sections out of order", func(*testing.T) []byte { return append(valid[:8:8], 3, 1, 0, 1, 1, 0) },
			[]string{"offset 0xb", "type section is duplicated or out of order"}, false},
		{"huge vector count, few bytes", func(*testing.T) []byte {
			return append(valid[:8:8], 2, 5, 0xff, 0xff, 0xff, 0xff, 0x0f)
		}, []string{"offset 0xa", "import section declares 4294967295 entries in 0 bytes"}, false},
		{"function and code counts differ", func(*testing.T) []byte {
			m := moduleWithBody([]byte{opEnd})
			return binary.EncodeModule(&wasm.Module{TypeSection: []*wasm.FunctionType{{}}, FunctionSection: []wasm.Index{0, 0},
				CodeSection: []*wasm.Code{{Body: m[len(m)-1:]}}})
		}, []string{"declares 2 functions but the code section has 1 bodies"}, false},
		{"already instrumented", func(t *testing.T) []byte { return mustInstrument(t, valid) },
			[]string{`already exports "nicrt_icount"`}, false},
		{"else without if", func(*testing.T) []byte { return moduleWithBody([]byte{opElse, opEnd}) },
			[]string{"function 0 at module offset 0x", "(body offset 0x0)", "else without a matching if"}, false},
		{"unclosed block", func(*testing.T) []byte { return moduleWithBody([]byte{opBlock, 0x40, opEnd}) },
			[]string{"body offset 0x3", "ends inside 1 unclosed blocks"}, false},
		{"bytes after the final end", func(*testing.T) []byte { return moduleWithBody([]byte{opEnd, opEnd}) },
			[]string{"body offset 0x1", "1 bytes after the function's final end"}, false},
		{"branch too deep", func(*testing.T) []byte { return moduleWithBody([]byte{opBr, 5, opEnd}) },
			[]string{"branch depth 5 exceeds the 1 enclosing labels"}, false},
		{"unknown opcode", func(*testing.T) []byte { return moduleWithBody([]byte{0x01, 0xff, opEnd}) },
			[]string{"body offset 0x1", "unknown opcode 0xff"}, false},
		{"truncated i32.const", func(*testing.T) []byte { return moduleWithBody([]byte{0x41, 0x80}) },
			[]string{"immediate of opcode 0x41", "truncated"}, false},
		{"bad block type", func(*testing.T) []byte { return moduleWithBody([]byte{opBlock, 0x7a, opEnd, opEnd}) },
			[]string{"unknown block type 0x7a"}, false},
		{"block type index out of range", func(*testing.T) []byte { return moduleWithBody([]byte{opBlock, 0x05, opEnd, opEnd}) },
			[]string{"block type index 5 out of range (1 types)"}, false},
		{"multi-memory load", func(*testing.T) []byte {
			return moduleWithBody([]byte{0x41, 0, 0x28, 0x42, 0, 0, 0x1a, opEnd})
		}, []string{"memory index (multi-memory)"}, true},
		{"undefined 0xfc instruction", func(*testing.T) []byte { return moduleWithBody([]byte{0xfc, 18, opEnd}) },
			[]string{"instruction 0xfc 18"}, true},
		{"SIMD", func(t *testing.T) []byte {
			return wat(t, `(module (func $f (export "f") (result i32)
				v128.const i32x4 1 2 3 4
				i32x4.extract_lane 2))`, "--debug-names")
		}, []string{`function 0 ("f") at module offset 0x`, "(body offset 0x0)", "SIMD instruction (opcode 0xfd)", "not supported by icount"}, true},
		{"threads", func(t *testing.T) []byte {
			return wat(t, `(module (import "env" "h" (func)) (memory 1 1 shared)
				(func (result i32) i32.const 0 i32.atomic.load))`, "--enable-threads")
		}, []string{"function 1 at", "body offset 0x2", "threads (atomics) instruction (opcode 0xfe)"}, true},
		{"tail call", func(t *testing.T) []byte {
			return wat(t, `(module (func $f return_call $f))`, "--enable-tail-call")
		}, []string{"tail call instruction (opcode 0x12)"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.wasm(t)
			snapshot := append([]byte{}, in...)
			out, err := Instrument(in)
			if err == nil {
				t.Fatalf("no error; output %d bytes", len(out))
			}
			if out != nil {
				t.Error("output returned along with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v, want %v (%v)", !tc.unsupported, tc.unsupported, err)
			}
			if !bytes.Equal(in, snapshot) {
				t.Error("Instrument modified its input")
			}
		})
	}
}

// TestInterpreter: an instrumented module is an ordinary module to wazero
// and counts the same under its interpreter as under its compiler.
func TestInterpreter(t *testing.T) {
	orig := wat(t, countCases[0].wat)
	inst := mustInstrument(t, orig)
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	m, err := r.Instantiate(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.ExportedFunction("run").Call(context.Background(), 10)
	if err != nil || res[0] != 45 {
		t.Fatalf("run(10) = %v, %v; want 45", res, err)
	}
	rg := regionCounts(t, countCases[0].wat)
	if got, want := readCounter(t, m), countCases[0].want(rg, 10); got != want {
		t.Errorf("interpreter counted %d, want %d", got, want)
	}
}

package icount

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// FuzzSelfCounting generates valid programs of random shape from the fuzz
// input — nested blocks, loops, if with and without else, br, br_if,
// br_table, calls, returns and dead code — that count their own executed
// instructions: each unit of straight-line code starts by adding its own
// length (known to the generator, counting rule included) to the module's
// global $n before it can branch away. Instrument's count must equal $n
// exactly, and the instrumented program must compute the same $n. The same
// holds with the interrupt checks added (Rewrite with both options): they
// change neither the count nor what the program computes, and with the flag
// set before a call, the call traps at its entry.
func FuzzSelfCounting(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "\x02\x03\x04\x05\x06\x07\x08\x09",
		"\x03\x00\x01\x04\x00\x05\x01\x02\x06\x00",
		"\x02\x02\x02\x05\x07\x01\x01\x03\x04\x08\x09\x00\x00",
		"\x01\x02\x08\x03\x04\x11\x14\x15\x07\x27\x38\x39\x40",
	} {
		f.Add([]byte(seed))
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := (&progGen{data: data}).module()
		inst, err := Instrument(orig)
		if err != nil {
			t.Fatalf("Instrument: %v", err)
		}
		both, err := Rewrite(orig, Options{Count: true, Interrupt: true})
		if err != nil {
			t.Fatalf("Rewrite: %v", err)
		}
		om, err := r.InstantiateWithConfig(ctx, orig, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatalf("generated module is invalid (generator bug): %v", err)
		}
		defer om.Close(ctx)
		im, err := r.InstantiateWithConfig(ctx, inst, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatalf("instrumented module is invalid: %v", err)
		}
		defer im.Close(ctx)
		bm, err := r.InstantiateWithConfig(ctx, both, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatalf("module rewritten with both options is invalid: %v", err)
		}
		defer bm.Close(ctx)
		for _, x := range []uint64{0, 1, 0x5a5a5a5a} {
			var self [3]uint64
			for i, m := range []api.Module{om, im, bm} {
				m.ExportedGlobal("fuel").(api.MutableGlobal).Set(30)
				n0 := m.ExportedGlobal("n").Get()
				if _, err := m.ExportedFunction("run").Call(ctx, x); err != nil {
					t.Fatalf("run(%d): %v", x, err)
				}
				self[i] = m.ExportedGlobal("n").Get() - n0
			}
			if self[0] != self[1] || self[0] != self[2] {
				t.Fatalf("run(%d): the program counted itself %d original, %d instrumented, %d with checks",
					x, self[0], self[1], self[2])
			}
		}
		// Once more on the rewritten modules alone, comparing with icount.
		for _, m := range []api.Module{im, bm} {
			for _, x := range []uint64{0, 1, 0x5a5a5a5a} {
				m.ExportedGlobal("fuel").(api.MutableGlobal).Set(30)
				n0, c0 := m.ExportedGlobal("n").Get(), readCounter(t, m)
				if _, err := m.ExportedFunction("run").Call(ctx, x); err != nil {
					t.Fatal(err)
				}
				if self, got := m.ExportedGlobal("n").Get()-n0, readCounter(t, m)-c0; got != self {
					t.Fatalf("run(%d): icount counted %d, the program counted itself %d", x, got, self)
				}
			}
		}
		// With the flag set, the call traps at its entry: nothing runs.
		bm.ExportedGlobal(InterruptGlobalName).(api.MutableGlobal).Set(1)
		n0, c0 := bm.ExportedGlobal("n").Get(), readCounter(t, bm)
		if _, err := bm.ExportedFunction("run").Call(ctx, 1); !isUnreachableTrap(err) {
			t.Fatalf("run with the flag set: %v, want the unreachable trap", err)
		}
		if n, c := bm.ExportedGlobal("n").Get()-n0, readCounter(t, bm)-c0; n != 0 || c != 0 {
			t.Fatalf("interrupted at entry, yet the program counted %d and icount %d", n, c)
		}
	})
}

// progGen emits a module of self-counting functions of type (i32) -> ().
// Globals: 0 = $n (i64, instructions executed), 1 = $fuel (i32, bounds loop
// back edges, so every program terminates).
type progGen struct {
	data   []byte
	pos    int
	budget int    // statements left
	labels []byte // enclosing labels of the current function: 'f', 'b', 'l', 'i'
	fn     int    // current function index
	nfuncs int
}

func (g *progGen) next() byte {
	if g.pos >= len(g.data) {
		return 0
	}
	b := g.data[g.pos]
	g.pos++
	return b
}

// acct adds k to $n: four instructions, which k must include.
func acct(dst []byte, k int64) []byte {
	dst = append(dst, opGlobalGet, 0, opI64Const)
	dst = appendS64(dst, k)
	return append(dst, opI64Add, opGlobalSet, 0)
}

// cond pushes an i32 derived from $x: three instructions.
func (g *progGen) cond(dst []byte) []byte {
	return append(dst, 0x20, 0, 0x41, g.next()&0x3f, 0x71) // local.get 0, i32.const m, i32.and
}

// branchDepth picks the depth of an enclosing label that is not a loop
// (branching to a loop label would loop without spending fuel).
func (g *progGen) branchDepth() byte {
	var ok []int
	for i, k := range g.labels {
		if k != 'l' {
			ok = append(ok, len(g.labels)-1-i)
		}
	}
	return byte(ok[int(g.next())%len(ok)])
}

func (g *progGen) stmts(dst []byte, depth int) []byte {
	n := int(g.next() % 4)
	for i := 0; i < n && g.budget > 0; i++ {
		g.budget--
		dst = g.stmt(dst, depth)
	}
	return dst
}

func (g *progGen) stmt(dst []byte, depth int) []byte {
	kind := g.next() % 10
	if depth > 4 && kind >= 2 && kind <= 4 {
		kind = 0 // no deeper nesting
	}
	switch kind {
	case 0, 1: // x = x*31 + c
		dst = acct(dst, 10)
		return append(dst, 0x20, 0, 0x41, 31, 0x6c, 0x41, g.next()&0x3f, 0x6a, 0x21, 0)
	case 2: // block
		dst = append(acct(dst, 5), opBlock, 0x40)
		g.labels = append(g.labels, 'b')
		dst = g.stmts(dst, depth+1)
	case 3: // loop, with a fuel-guarded back edge at its end
		dst = append(acct(dst, 5), opLoop, 0x40)
		g.labels = append(g.labels, 'l')
		dst = g.stmts(dst, depth+1)
		dst = acct(dst, 12)
		// fuel -= 1; br_if 0 (fuel > 0)
		dst = append(dst, opGlobalGet, 1, 0x41, 1, 0x6b, opGlobalSet, 1, opGlobalGet, 1, 0x41, 0, 0x4a, opBrIf, 0)
	case 4: // if, with an else half the time
		dst = g.cond(acct(dst, 8))
		dst = append(dst, opIf, 0x40)
		g.labels = append(g.labels, 'i')
		dst = g.stmts(dst, depth+1)
		if g.next()%2 == 0 {
			dst = append(dst, opElse)
			dst = g.stmts(dst, depth+1)
		}
	case 5: // br_if
		dst = g.cond(acct(dst, 8))
		return append(dst, opBrIf, g.branchDepth())
	case 6: // br, then dead code
		dst = append(acct(dst, 5), opBr, g.branchDepth())
		return g.stmts(dst, depth)
	case 7: // br_table over up to 3 labels and a default, then dead code
		dst = g.cond(acct(dst, 8))
		n := g.next() % 4
		dst = append(dst, opBrTable, n)
		for i := byte(0); i <= n; i++ {
			dst = append(dst, g.branchDepth())
		}
		return g.stmts(dst, depth)
	case 8: // call a later function (no recursion)
		if g.fn+1 >= g.nfuncs {
			return g.stmt(dst, depth)
		}
		callee := g.fn + 1 + int(g.next())%(g.nfuncs-g.fn-1)
		dst = acct(dst, 8)
		return append(dst, 0x20, 0, 0x41, g.next()&0x3f, 0x6a, 0x10, byte(callee))
	case 9: // return, then dead code
		dst = append(acct(dst, 5), opReturn)
		return g.stmts(dst, depth)
	}
	g.labels = g.labels[:len(g.labels)-1]
	return append(dst, opEnd)
}

func (g *progGen) module() []byte {
	g.nfuncs = 1 + int(g.next()%3)
	g.budget = 48
	var code []byte
	code = appendU32(code, uint32(g.nfuncs))
	for g.fn = 0; g.fn < g.nfuncs; g.fn++ {
		g.labels = []byte{'f'}
		body := append(g.stmts(nil, 0), opEnd)
		body = append([]byte{0}, body...) // no locals beyond the parameter
		code = append(appendU32(code, uint32(len(body))), body...)
	}
	funcs := appendU32(nil, uint32(g.nfuncs))
	for range g.nfuncs {
		funcs = append(funcs, 0)
	}
	out := append([]byte{}, wasmMagic...)
	out = append(out, wasmVersion...)
	out = appendSection(out, secType, []byte{1, 0x60, 1, 0x7f, 0})
	out = appendSection(out, secFunction, funcs)
	out = appendSection(out, secGlobal, []byte{2, 0x7e, 1, opI64Const, 0, opEnd, 0x7f, 1, 0x41, 0, opEnd})
	out = appendSection(out, secExport, []byte{3,
		3, 'r', 'u', 'n', 0x00, 0,
		1, 'n', 0x03, 0,
		4, 'f', 'u', 'e', 'l', 0x03, 1})
	return appendSection(out, secCode, code)
}

package icount

import (
	"context"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// envWAT is a module instantiated as "env" next to every case: an imported
// function and an imported mutable global. It is not instrumented, so its
// instructions stand for host work, which is not counted.
const envWAT = `(module
  (global (export "g") (mut i32) (i32.const 7))
  (func (export "triple") (param i32) (result i32)
    local.get 0
    i32.const 3
    i32.mul))`

// regions maps a region name to the number of instructions tagged with it.
type regions = map[string]uint64

// countCase is a module written in flat WAT with region tags (see
// regionCounts) and the expected count of one call of its export "run",
// computed from those regions for the given argument.
type countCase struct {
	name string
	wat  string
	args []uint64
	want func(r regions, arg uint64) uint64
	// blocks is the number of counting sequences Instrument must insert in
	// the whole module (non-empty basic blocks), a check of the block-split
	// rule; 0 skips the check.
	blocks int
}

var countCases = []countCase{{
	name: "loop a+b·n",
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    block $done               ;; @a
      loop $top               ;; @a
        local.get $i          ;; @check
        local.get $n          ;; @check
        i32.ge_u              ;; @check
        br_if $done           ;; @check
        local.get $acc        ;; @body
        local.get $i          ;; @body
        i32.add               ;; @body
        local.set $acc        ;; @body
        local.get $i          ;; @body
        i32.const 1           ;; @body
        i32.add               ;; @body
        local.set $i          ;; @body
        br $top               ;; @body
      end
    end
    local.get $acc            ;; @a
  ))`,
	args: []uint64{0, 1, 2, 7, 100, 1000},
	// n iterations run check and body; the last check exits. So the count is
	// a' + b'·n with a' = a + check and b' = check + body.
	want: func(r regions, n uint64) uint64 {
		a, b := r["a"]+r["check"], r["check"]+r["body"]
		return a + b*n
	},
	blocks: 4, // entry, loop body, after br_if, after block end
}, {
	name: "nested blocks, br to outer, br_if, dead code",
	wat: `(module
  (func (export "run") (param $x i32) (result i32)
    (local $r i32)
    block $outer              ;; @entry
      block $inner            ;; @entry
        local.get $x          ;; @entry
        i32.eqz               ;; @entry
        br_if $inner          ;; @entry
        i32.const 10          ;; @nonzero
        local.set $r          ;; @nonzero
        br $outer             ;; @nonzero
        i32.const 99          ;; @dead
        drop                  ;; @dead
      end
      i32.const 20            ;; @zero
      local.set $r            ;; @zero
    end
    local.get $r              ;; @exit
  ))`,
	args: []uint64{0, 5},
	want: func(r regions, x uint64) uint64 {
		if x == 0 {
			return r["entry"] + r["zero"] + r["exit"]
		}
		return r["entry"] + r["nonzero"] + r["exit"]
	},
	blocks: 4,
}, {
	name: "br_table",
	wat: `(module
  (func (export "run") (param $x i32) (result i32)
    block $d                  ;; @e
      block $c2               ;; @e
        block $c1             ;; @e
          block $c0           ;; @e
            local.get $x      ;; @e
            br_table $c0 $c1 $c2 $d ;; @e
          end
          i32.const 100       ;; @k0
          return              ;; @k0
        end
        i32.const 101         ;; @k1
        i32.const 1           ;; @k1
        i32.add               ;; @k1
        return                ;; @k1
      end
      i32.const 102           ;; @k2
      return                  ;; @k2
    end
    i32.const 103             ;; @kd
  ))`,
	args: []uint64{0, 1, 2, 3, 9},
	want: func(r regions, x uint64) uint64 {
		k := [...]string{"k0", "k1", "k2"}
		if x < 3 {
			return r["e"] + r[k[x]]
		}
		return r["e"] + r["kd"]
	},
	blocks: 5,
}, {
	name: "if/else and if without else",
	wat: `(module
  (func (export "run") (param $x i32) (result i32)
    (local $r i32)
    local.get $x              ;; @e
    if (result i32)           ;; @e
      i32.const 1             ;; @then
    else
      i32.const 2             ;; @else
      i32.const 3             ;; @else
      i32.add                 ;; @else
    end
    local.set $r              ;; @join
    local.get $x              ;; @join
    i32.const 10              ;; @join
    i32.gt_u                  ;; @join
    if                        ;; @join
      local.get $r            ;; @big
      i32.const 100           ;; @big
      i32.add                 ;; @big
      local.set $r            ;; @big
    end
    local.get $r              ;; @exit
  ))`,
	args: []uint64{0, 1, 11},
	want: func(r regions, x uint64) uint64 {
		n := r["e"] + r["join"] + r["exit"]
		if x == 0 {
			n += r["else"]
		} else {
			n += r["then"]
		}
		if x > 10 {
			n += r["big"]
		}
		return n
	},
	blocks: 6,
}, {
	name: "early return from a loop, dead code after it",
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32)
    loop $l                   ;; @a
      local.get $i            ;; @b
      i32.const 1             ;; @b
      i32.add                 ;; @b
      local.tee $i            ;; @b
      local.get $n            ;; @b
      i32.ge_u                ;; @b
      if                      ;; @b
        local.get $i          ;; @r
        i32.const 1000        ;; @r
        i32.add               ;; @r
        return                ;; @r
      end
      br $l                   ;; @c
    end
    i32.const -1              ;; @never
  ))`,
	args: []uint64{0, 1, 2, 10},
	// The loop runs m = max(n, 1) times; all but the last take the back edge.
	want: func(r regions, n uint64) uint64 {
		m := max(n, 1)
		return r["a"] + m*r["b"] + (m-1)*r["c"] + r["r"]
	},
	blocks: 4,
}, {
	name: "nested loops",
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    loop $outer               ;; @a
      i32.const 0             ;; @o
      local.set $j            ;; @o
      loop $inner             ;; @o
        local.get $acc        ;; @in
        i32.const 1           ;; @in
        i32.add               ;; @in
        local.set $acc        ;; @in
        local.get $j          ;; @in
        i32.const 1           ;; @in
        i32.add               ;; @in
        local.tee $j          ;; @in
        local.get $n          ;; @in
        i32.lt_u              ;; @in
        br_if $inner          ;; @in
      end
      local.get $i            ;; @p
      i32.const 1             ;; @p
      i32.add                 ;; @p
      local.tee $i            ;; @p
      local.get $n            ;; @p
      i32.lt_u                ;; @p
      br_if $outer            ;; @p
    end
    local.get $acc            ;; @z
  ))`,
	args: []uint64{0, 1, 3, 20},
	// Both loops are do-while: each runs m = max(n, 1) times.
	want: func(r regions, n uint64) uint64 {
		m := max(n, 1)
		return r["a"] + m*r["o"] + m*m*r["in"] + m*r["p"] + r["z"]
	},
	blocks: 5,
}, {
	name: "calls: direct, indirect, imported; imported global",
	wat: `(module
  (import "env" "triple" (func $triple (param i32) (result i32)))
  (import "env" "g" (global $g (mut i32)))
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $double $inc)
  (func $double (param i32) (result i32)
    local.get 0               ;; @double
    local.get 0               ;; @double
    i32.add                   ;; @double
  )
  (func $inc (param i32) (result i32)
    global.get $g             ;; @inc
    i32.const 1               ;; @inc
    i32.add                   ;; @inc
    global.set $g             ;; @inc
    local.get 0               ;; @inc
    global.get $g             ;; @inc
    i32.add                   ;; @inc
  )
  (func (export "run") (param $x i32) (result i32)
    local.get $x              ;; @m
    call $double              ;; @m
    call $double              ;; @m
    call $triple              ;; @m
    local.get $x              ;; @m
    i32.const 1               ;; @m
    i32.and                   ;; @m
    call_indirect (type $t)   ;; @m
  ))`,
	args: []uint64{0, 1, 6, 7},
	// call_indirect picks $double for even x and $inc for odd x; the
	// imported $triple is host work and adds nothing beyond its call.
	want: func(r regions, x uint64) uint64 {
		n := r["m"] + 2*r["double"]
		if x%2 == 1 {
			return n + r["inc"]
		}
		return n + r["double"]
	},
	blocks: 3,
}, {
	name: "multi-value block, loop with params",
	wat: `(module
  (type $pair (func (param i32 i32) (result i32 i32)))
  (func $swap (param i32 i32) (result i32 i32)
    local.get 1               ;; @swap
    local.get 0               ;; @swap
  )
  (func (export "run") (param $x i32) (result i32)
    local.get $x              ;; @e
    i32.const 3               ;; @e
    block (type $pair)        ;; @e
      call $swap              ;; @e
      local.get $x            ;; @e
      br_if 0                 ;; @e
      call $swap              ;; @zero
    end
    i32.sub                   ;; @j
    local.get $x              ;; @j
    loop (param i32) (result i32) ;; @j
      local.tee $x            ;; @l
      i32.eqz                 ;; @l
      if (result i32)         ;; @l
        i32.const 42          ;; @last
      else
        local.get $x          ;; @next
        i32.const 1           ;; @next
        i32.sub               ;; @next
        br 1                  ;; @next
      end
    end
    i32.add                   ;; @k
  ))`,
	args: []uint64{0, 1, 4},
	want: func(r regions, x uint64) uint64 {
		n := r["e"] + r["j"] + r["k"] + r["swap"]
		if x == 0 {
			n += r["zero"] + r["swap"]
		}
		return n + (x+1)*r["l"] + x*r["next"] + r["last"]
	},
	blocks: 8,
}, {
	name: "untargeted block end and else after a returning arm continue the block",
	wat: `(module
  (func (export "run") (param $x i32) (result i32)
    block                     ;; @a
      local.get $x            ;; @a
      drop                    ;; @a
    end
    local.get $x              ;; @a
    if (result i32)           ;; @a
      i32.const 5             ;; @t
      return                  ;; @t
    else
      i32.const 6             ;; @f
    end
    i32.const 1               ;; @f
    i32.add                   ;; @f
  ))`,
	args:   []uint64{0, 3},
	want:   func(r regions, x uint64) uint64 { return r["a"] + map[bool]uint64{true: r["t"], false: r["f"]}[x != 0] },
	blocks: 3,
}, {
	name: "every immediate shape: memory, bulk memory, tables, references, conversions",
	wat: `(module
  (memory 1)
  (data $d "\01\02\03\04\05\06\07\08")
  (table $t 4 funcref)
  (elem $e func $seven)
  (func $seven (result i32)
    i32.const 7               ;; @never
  )
  (func (export "run") (param $x i32) (result i32)
    (local $l i64)
    i32.const 0               ;; @s
    i32.const 0               ;; @s
    i32.const 8               ;; @s
    memory.init $d            ;; @s
    data.drop $d              ;; @s
    i32.const 16              ;; @s
    i32.const 0               ;; @s
    i32.const 8               ;; @s
    memory.copy               ;; @s
    i32.const 32              ;; @s
    local.get $x              ;; @s
    i32.const 8               ;; @s
    memory.fill               ;; @s
    i32.const 0               ;; @s
    i64.load offset=16 align=4 ;; @s
    i64.const 0x7fffffffffffffff ;; @s
    i64.xor                   ;; @s
    local.set $l              ;; @s
    f64.const 1e300           ;; @s
    f64.const -1e10           ;; @s
    f64.mul                   ;; @s
    i64.trunc_sat_f64_s       ;; @s
    local.get $l              ;; @s
    i64.add                   ;; @s
    i64.extend32_s            ;; @s
    i32.wrap_i64              ;; @s
    i32.extend8_s             ;; @s
    f32.const -2.5            ;; @s
    i32.trunc_sat_f32_u       ;; @s
    i32.add                   ;; @s
    i32.const 24              ;; @s
    i32.load8_u offset=8 align=1 ;; @s
    i32.add                   ;; @s
    i32.const 0               ;; @s
    ref.func $seven           ;; @s
    table.set $t              ;; @s
    i32.const 0               ;; @s
    table.get $t              ;; @s
    ref.is_null               ;; @s
    i32.add                   ;; @s
    ref.null func             ;; @s
    i32.const 1               ;; @s
    table.grow $t             ;; @s
    i32.add                   ;; @s
    table.size $t             ;; @s
    i32.add                   ;; @s
    i32.const 1               ;; @s
    ref.null func             ;; @s
    i32.const 2               ;; @s
    table.fill $t             ;; @s
    i32.const 2               ;; @s
    i32.const 0               ;; @s
    i32.const 1               ;; @s
    table.init $t $e          ;; @s
    elem.drop $e              ;; @s
    i32.const 3               ;; @s
    i32.const 2               ;; @s
    i32.const 1               ;; @s
    table.copy $t $t          ;; @s
    i32.const 3               ;; @s
    table.get $t              ;; @s
    ref.is_null               ;; @s
    i32.add                   ;; @s
    memory.size               ;; @s
    i32.add                   ;; @s
    i32.const 0               ;; @s
    memory.grow               ;; @s
    i32.add                   ;; @s
    i32.const 1000            ;; @s
    local.get $x              ;; @s
    select (result i32)       ;; @s
    i32.const 5               ;; @s
    i32.const 6               ;; @s
    local.get $x              ;; @s
    select                    ;; @s
    i32.add                   ;; @s
    nop                       ;; @s
    f32.const 3.5             ;; @s
    f64.promote_f32           ;; @s
    f64.sqrt                  ;; @s
    i32.trunc_f64_s           ;; @s
    i32.add                   ;; @s
  ))`,
	args:   []uint64{0, 1, 255},
	want:   func(r regions, _ uint64) uint64 { return r["s"] },
	blocks: 2,
}}

// instantiatePair instantiates the original module and its instrumented copy
// in fresh runtimes (each with its own "env"), so every call starts from the
// same state.
func instantiatePair(t *testing.T, orig, inst []byte, env []byte) (api.Module, api.Module) {
	t.Helper()
	ctx := context.Background()
	var mods [2]api.Module
	for i, bin := range [][]byte{orig, inst} {
		r := newRuntime(t, nil)
		if env != nil {
			if _, err := r.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
				t.Fatalf("instantiate env: %v", err)
			}
		}
		m, err := r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("guest"))
		if err != nil {
			t.Fatalf("instantiate %s module: %v", [...]string{"original", "instrumented"}[i], err)
		}
		mods[i] = m
	}
	return mods[0], mods[1]
}

// TestCounts checks the exact count of every case against the count derived
// from its WAT, and that the instrumented module returns what the original
// returns.
func TestCounts(t *testing.T) {
	env := wat(t, envWAT)
	ctx := context.Background()
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			r := regionCounts(t, tc.wat)
			orig := wat(t, tc.wat)
			inst := mustInstrument(t, orig)
			if tc.blocks != 0 {
				if got := countSequences(t, orig, inst); got != tc.blocks {
					t.Errorf("inserted %d counting sequences, want %d", got, tc.blocks)
				}
			}
			for _, arg := range tc.args {
				om, im := instantiatePair(t, orig, inst, env)
				want, err := om.ExportedFunction("run").Call(ctx, arg)
				if err != nil {
					t.Fatalf("original run(%d): %v", arg, err)
				}
				before := readCounter(t, im)
				got, err := im.ExportedFunction("run").Call(ctx, arg)
				if err != nil {
					t.Fatalf("instrumented run(%d): %v", arg, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("run(%d) = %v instrumented, %v original", arg, got, want)
				}
				if n, wantN := readCounter(t, im)-before, tc.want(r, arg); n != wantN {
					t.Errorf("run(%d) counted %d instructions, want %d (regions %v)", arg, n, wantN, r)
				}
			}
		})
	}
}

// countSequences returns how many counting sequences Instrument inserted: the
// growth of the code section's instruction stream divided by the size of one
// sequence is not exact (N varies in width), so it decodes the original
// bodies again and counts non-empty blocks.
func countSequences(t *testing.T, orig, inst []byte) int {
	t.Helper()
	m, err := parseModule(orig)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := m.newGlobalsIndex(1)
	in := &instrumenter{types: m.types, counter: appendU32(nil, idx)}
	n := 0
	for _, e := range m.bodies {
		if err := in.scan(orig[e.body:e.end]); err != nil {
			t.Fatal(err)
		}
		for _, c := range in.counters {
			if c.n > 0 {
				n++
			}
		}
	}
	return n
}

// TestTrapCountsWholeBlock pins the documented behaviour on traps: the
// trapping block is counted whole (an upper bound), the rest of the caller's
// block too, and later calls count exactly.
func TestTrapCountsWholeBlock(t *testing.T) {
	src := `(module
  (func $div (param $x i32) (result i32)
    i32.const 100             ;; @div
    local.get $x              ;; @div
    i32.div_u                 ;; @div
    i32.const 1               ;; @div
    i32.add                   ;; @div
  )
  (func (export "run") (param $x i32) (result i32)
    local.get $x              ;; @run
    call $div                 ;; @run
    i32.const 2               ;; @run
    i32.mul                   ;; @run
  ))`
	r := regionCounts(t, src)
	orig := wat(t, src)
	_, im := instantiatePair(t, orig, mustInstrument(t, orig), nil)
	run := im.ExportedFunction("run")
	ctx := context.Background()
	for _, step := range []struct {
		arg  uint64
		trap bool
	}{{5, false}, {0, true}, {5, false}, {0, true}, {7, false}} {
		before := readCounter(t, im)
		_, err := run.Call(ctx, step.arg)
		if (err != nil) != step.trap {
			t.Fatalf("run(%d): err = %v, want trap %v", step.arg, err, step.trap)
		}
		// Exact for a normal return; for the trap (division by zero at the
		// third instruction of $div) the two instructions after it in $div
		// and the two after the call in run are counted although they never
		// ran: the documented bound.
		if got, want := readCounter(t, im)-before, r["run"]+r["div"]; got != want {
			t.Errorf("run(%d) (trap %v) counted %d, want %d", step.arg, step.trap, got, want)
		}
	}
}

// TestDeterministic: the same call counts the same, on one instance and on
// fresh instances.
func TestDeterministic(t *testing.T) {
	tc := countCases[0]
	orig := wat(t, tc.wat)
	inst := mustInstrument(t, orig)
	again := mustInstrument(t, orig)
	if string(inst) != string(again) {
		t.Fatal("Instrument is not deterministic: two runs gave different bytes")
	}
	ctx := context.Background()
	var first uint64
	for i := 0; i < 3; i++ {
		_, im := instantiatePair(t, orig, inst, nil)
		for j := 0; j < 3; j++ {
			before := readCounter(t, im)
			if _, err := im.ExportedFunction("run").Call(ctx, 123); err != nil {
				t.Fatal(err)
			}
			n := readCounter(t, im) - before
			if i == 0 && j == 0 {
				first = n
			} else if n != first {
				t.Fatalf("instance %d call %d counted %d, first call counted %d", i, j, n, first)
			}
		}
	}
}

// TestCounterIsMonotonic: the counter never decreases over a sequence of calls.
func TestCounterIsMonotonic(t *testing.T) {
	orig := wat(t, countCases[0].wat)
	_, im := instantiatePair(t, orig, mustInstrument(t, orig), nil)
	last := readCounter(t, im)
	for n := uint64(0); n < 50; n++ {
		if _, err := im.ExportedFunction("run").Call(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		now := readCounter(t, im)
		if now < last {
			t.Fatalf("counter went from %d down to %d", last, now)
		}
		last = now
	}
	if last == 0 {
		t.Fatal("counter never moved")
	}
}

package icount

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/leb128"
	"github.com/tetratelabs/wabin/wasm"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// How the interrupt tests drive a spinning call: the call runs in its own
// goroutine; meanwhile the test goroutine runs two full garbage collections
// (each stops the world, which waits for the spinning goroutine to exit to
// Go), then sets the interrupt global; the call must then return the
// unreachable trap. The tests that spin run in a child process (isolate)
// bounded by childTimeout: a guest that never yields freezes its whole
// process, timers included, so only another process can fail the test
// instead of hanging it. stopWithin bounds the wait for the trap in the
// child itself.
const (
	spinBefore   = 20 * time.Millisecond
	stopWithin   = 10 * time.Second
	childTimeout = 3 * time.Minute
)

// childEnv marks the child process isolate starts.
const childEnv = "NICRT_ICOUNT_CHILD"

// isolate, called first in a test, re-runs that test alone in a child
// process with a deadline and reports its outcome, and returns true: the
// caller then returns. In the child it returns false and the test runs.
func isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == "1" {
		return false
	}
	out, killed, err := runChild(t, "^"+t.Name()+"$", childTimeout)
	switch {
	case killed:
		t.Fatalf("the test did not finish within %v (a spinning guest froze its process?); child output:\n%s", childTimeout, out)
	case err != nil:
		t.Fatalf("child: %v; output:\n%s", err, out)
	}
	t.Logf("child output:\n%s", out)
	return true
}

// runChild runs the tests matching pattern in a child process of this test
// binary and returns its output, and whether it had to be killed at the
// deadline (after SIGQUIT, so that the output ends with its goroutines).
func runChild(t *testing.T, pattern string, timeout time.Duration) (out string, killed bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	return string(b), ctx.Err() != nil, err
}

// interruptRuntime returns a runtime on wazero's optimizing compiler without
// WithCloseOnContextDone: nothing but the rewritten code can stop a call.
// Only the compiler is tested: under the interpreter a write from another
// goroutine is a data race in Go's memory model (see the package
// documentation).
func interruptRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("wazero has no compiler for %s", runtime.GOARCH)
	}
	return newRuntime(t, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(false))
}

// interruptGlobal returns the exported interrupt flag of a rewritten module.
func interruptGlobal(t testing.TB, m api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := m.ExportedGlobal(InterruptGlobalName).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI32 {
		t.Fatalf("%s is not exported as a mutable i32 global", InterruptGlobalName)
	}
	if g.Get() != 0 {
		t.Fatalf("%s starts at %d, want 0", InterruptGlobalName, g.Get())
	}
	return g
}

// isUnreachableTrap reports whether err is wazero's trap for the
// unreachable instruction: "wasm error: unreachable" followed by the stack.
func isUnreachableTrap(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "wasm error: unreachable\n")
}

// callInterrupted calls fn(args) in a goroutine, checks that it is still
// running after spinBefore, sets the module's interrupt flag from the test
// goroutine and requires the call to end with the unreachable trap within
// stopWithin. It returns how long the call took to stop after the write.
func callInterrupted(t *testing.T, m api.Module, fn string, args ...uint64) time.Duration {
	t.Helper()
	g := interruptGlobal(t, m)
	f := m.ExportedFunction(fn)
	if f == nil {
		t.Fatalf("no export %s", fn)
	}
	type result struct {
		res []uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := f.Call(context.Background(), args...)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("%s%v ended by itself before the interrupt (%v, %v): not a spinning call", fn, args, r.res, r.err)
	case <-time.After(spinBefore):
	}
	// Without the guest's exits to Go, these never return.
	gcStart := time.Now()
	runtime.GC()
	runtime.GC()
	t.Logf("two collections took %v while %s%v spun", time.Since(gcStart), fn, args)
	select {
	case r := <-done:
		t.Fatalf("%s%v ended by itself before the interrupt (%v, %v): not a spinning call", fn, args, r.res, r.err)
	default:
	}
	set := time.Now()
	g.Set(1)
	select {
	case r := <-done:
		stopped := time.Since(set)
		if !isUnreachableTrap(r.err) {
			t.Fatalf("%s%v after the interrupt: got %v, %v; want the unreachable trap", fn, args, r.res, r.err)
		}
		return stopped
	case <-time.After(stopWithin):
		t.Fatalf("%s%v still running %v after %s was set: the guest never saw the flag", fn, args, stopWithin, InterruptGlobalName)
	}
	return 0
}

// interruptCase is a module whose export "run" returns for the finite
// arguments and spins for the forever argument (for hours at least).
type interruptCase struct {
	name    string
	wat     string
	env     bool // needs envWAT instantiated as "env"
	finite  []uint64
	forever uint64
}

const minus1 = 0xffffffff // -1 as an i32 argument

var interruptCases = []interruptCase{{
	name: "empty infinite loop",
	// run(0) returns 7; any other argument enters a loop whose body is a
	// lone back edge.
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    local.get $n
    if
      loop $l
        br $l
      end
    end
    i32.const 7))`,
	finite:  []uint64{0},
	forever: 1,
}, {
	name: "counting loop, br_if exit, br back edge",
	// n iterations of acc = acc*31 + i; n = -1 never exits (i wraps).
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    block $done
      loop $top
        local.get $n
        i32.const 0
        i32.ge_s
        local.get $i
        local.get $n
        i32.ge_s
        i32.and
        br_if $done
        local.get $acc
        i32.const 31
        i32.mul
        local.get $i
        i32.add
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $top
      end
    end
    local.get $acc))`,
	finite:  []uint64{0, 1, 10, 100000},
	forever: minus1,
}, {
	name: "tree recursion without any loop",
	// Mutually recursive Fibonacci: only function entries are checked.
	// Depth n, about 1.6^n calls: n = 60 is days of work on 60 frames.
	wat: `(module
  (func $a (param $n i32) (result i32)
    local.get $n
    i32.const 2
    i32.lt_u
    if (result i32)
      local.get $n
    else
      local.get $n
      i32.const 1
      i32.sub
      call $b
      local.get $n
      i32.const 2
      i32.sub
      call $b
      i32.add
    end)
  (func $b (param $n i32) (result i32)
    local.get $n
    i32.const 2
    i32.lt_u
    if (result i32)
      local.get $n
    else
      local.get $n
      i32.const 1
      i32.sub
      call $a
      local.get $n
      i32.const 2
      i32.sub
      call $a
      i32.add
    end)
  (func (export "run") (param $n i32) (result i32)
    local.get $n
    call $a))`,
	finite:  []uint64{0, 1, 2, 10, 20},
	forever: 60,
}, {
	name: "loop calling functions: direct, indirect, imported; imported global",
	// The new global's index follows an imported global and a defined one.
	wat: `(module
  (import "env" "triple" (func $triple (param i32) (result i32)))
  (import "env" "g" (global $g (mut i32)))
  (global $calls (mut i32) (i32.const 0))
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $even $odd)
  (func $even (param $x i32) (result i32)
    global.get $calls
    i32.const 1
    i32.add
    global.set $calls
    local.get $x
    i32.eqz
    if (result i32)
      i32.const 7
    else
      local.get $x
      i32.const 1
      i32.shr_u
      local.get $x
      i32.const 1
      i32.and
      call_indirect (type $t)
    end)
  (func $odd (param $x i32) (result i32)
    local.get $x
    call $triple
    global.get $g
    i32.add)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    block $done
      loop $top
        local.get $n
        i32.const 0
        i32.ge_s
        local.get $i
        local.get $n
        i32.ge_s
        i32.and
        br_if $done
        local.get $acc
        local.get $i
        i32.const 2
        i32.shl
        call $even
        i32.xor
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $top
      end
    end
    local.get $acc
    global.get $calls
    i32.add))`,
	env:     true,
	finite:  []uint64{0, 1, 7, 1000},
	forever: minus1,
}, {
	name: "br_table back edge",
	// The only back edge is br_table's label 0; label 1 (default) exits.
	wat: `(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    loop $top
      block $exit
        local.get $acc
        i32.const 7
        i32.add
        i32.const 13
        i32.mul
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        local.get $n
        i32.const 0
        i32.ge_s
        local.get $i
        local.get $n
        i32.ge_s
        i32.and
        br_table $top $exit
      end
    end
    local.get $acc))`,
	finite:  []uint64{0, 1, 5, 100000},
	forever: minus1,
}, {
	name: "multi-value loop with params",
	// The loop's parameters (i, acc) are on the stack where the check goes;
	// the back edge is a br_if carrying both.
	wat: `(module
  (type $step (func (param i32 i32) (result i32 i32)))
  (func $step (type $step)
    (local $i i32) (local $acc i32)
    local.get 0
    i32.const 1
    i32.add
    local.get 1
    i32.const 31
    i32.mul
    local.get 0
    i32.add)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    i32.const 0
    i32.const 1
    loop $top (param i32 i32) (result i32 i32)
      call $step
      local.set $acc
      local.tee $i
      local.get $acc
      local.get $n
      i32.const 0
      i32.ge_s
      local.get $i
      local.get $n
      i32.ge_s
      i32.and
      i32.eqz
      br_if $top
    end
    i32.xor))`,
	finite:  []uint64{0, 1, 9, 100000},
	forever: minus1,
}}

// instantiateIn instantiates wasm under name in r, after "env" if needed.
func instantiateIn(t *testing.T, r wazero.Runtime, wasm []byte, name string, env bool) api.Module {
	t.Helper()
	ctx := context.Background()
	if env && r.Module("env") == nil {
		if _, err := r.InstantiateWithConfig(ctx, wat(t, envWAT), wazero.NewModuleConfig().WithName("env")); err != nil {
			t.Fatalf("instantiate env: %v", err)
		}
	}
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return m
}

// TestInterrupt: for each case and each option set with Interrupt, the
// rewritten module returns exactly what the original returns while the flag
// is 0, and a spinning call stops with the unreachable trap once another
// goroutine sets the flag.
func TestInterrupt(t *testing.T) {
	if isolate(t) {
		return
	}
	ctx := context.Background()
	for _, tc := range interruptCases {
		t.Run(tc.name, func(t *testing.T) {
			orig := wat(t, tc.wat)
			for _, o := range []Options{{Interrupt: true}, {Count: true, Interrupt: true}} {
				rw := mustRewrite(t, orig, o)
				r := interruptRuntime(t)
				om := instantiateIn(t, r, orig, "orig", tc.env)
				rm := instantiateIn(t, r, rw, "rewritten", tc.env)
				for _, arg := range tc.finite {
					want, err := om.ExportedFunction("run").Call(ctx, arg)
					if err != nil {
						t.Fatalf("original run(%d): %v", arg, err)
					}
					got, err := rm.ExportedFunction("run").Call(ctx, arg)
					if err != nil || !slices.Equal(got, want) {
						t.Fatalf("%+v: run(%d) = %v, %v; original %v", o, arg, got, err, want)
					}
				}
				took := callInterrupted(t, rm, "run", tc.forever)
				t.Logf("%+v: run(%d) stopped %v after the write", o, tc.forever, took)
			}
		})
	}
}

// spinReactorSrc is a stock-Go reactor whose exports spin on request: a
// loop (spin), and a recursion through a function the compiler may not
// inline (fib). Go compiles every function to a loop over a br_table (its
// resumable stack), so both pass function entries and loop headers.
const spinReactorSrc = `package main

//go:wasmexport spin
func spin(n int32) int32 {
	x := uint32(2463534242)
	for i := int32(0); n < 0 || i < n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
	}
	return int32(x)
}

//go:noinline
func fib(n int32) int32 {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

//go:wasmexport fib
func fibExport(n int32) int32 { return fib(n) }

func main() {}
`

// TestInterruptGoReactor: a stock-Go reactor behaves identically with the
// flag at 0 and stops spinning when the flag is set.
func TestInterruptGoReactor(t *testing.T) {
	if isolate(t) {
		return
	}
	orig := goGuest(t, spinReactorSrc, "-buildmode=c-shared")
	ctx := context.Background()
	for _, tc := range []struct {
		fn      string
		finite  []uint64
		forever uint64
	}{
		{"spin", []uint64{0, 1, 1000, 1000000}, minus1},
		{"fib", []uint64{0, 1, 2, 25}, 60},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			r := interruptRuntime(t)
			cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize")
			om, err := r.InstantiateWithConfig(ctx, orig, cfg.WithName("orig"))
			if err != nil {
				t.Fatal(err)
			}
			rm, err := r.InstantiateWithConfig(ctx, mustRewrite(t, orig, Options{Interrupt: true}), cfg.WithName("rewritten"))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.finite {
				want, err := om.ExportedFunction(tc.fn).Call(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := rm.ExportedFunction(tc.fn).Call(ctx, n); err != nil || !slices.Equal(got, want) {
					t.Fatalf("%s(%d) = %v, %v; original %v", tc.fn, n, got, err, want)
				}
			}
			t.Logf("%s(%d) stopped %v after the write", tc.fn, int32(tc.forever), callInterrupted(t, rm, tc.fn, tc.forever))
		})
	}
}

// TestInterruptCFilter: the C guest with the flag at 0 gives the original's
// results, its whole request scenario included; cfilter_loop(2^32-1), billions
// of iterations, stops when the flag is set.
func TestInterruptCFilter(t *testing.T) {
	if isolate(t) {
		return
	}
	orig := buildCFilter(t)
	rw := mustRewrite(t, orig, Options{Interrupt: true})
	ctx := context.Background()
	r := interruptRuntime(t)
	(&testHost{}).instantiate(t, r)
	cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize")
	om, err := r.InstantiateWithConfig(ctx, orig, cfg.WithName("orig"))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := r.InstantiateWithConfig(ctx, rw, cfg.WithName("rewritten"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{0, 1, 2, 1000, 123457} {
		want, err := om.ExportedFunction("cfilter_loop").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rm.ExportedFunction("cfilter_loop").Call(ctx, n); err != nil || !slices.Equal(got, want) {
			t.Fatalf("cfilter_loop(%d) = %v, %v; original %v", n, got, err, want)
		}
	}
	for _, config := range []string{"blue", ""} {
		want := strings.Join(runCFilterScenario(t, orig, config).transcript, "\n")
		if got := strings.Join(runCFilterScenario(t, rw, config).transcript, "\n"); got != want {
			t.Errorf("config %q: rewritten guest behaves differently\n--- original ---\n%s\n--- rewritten ---\n%s", config, want, got)
		}
	}
	t.Logf("cfilter_loop(2^32-1) stopped %v after the write", callInterrupted(t, rm, "cfilter_loop", minus1))
}

// TestInterruptKeepsCounts: with both options, every count is exactly the
// count of Count alone: the checks are not counted.
func TestInterruptKeepsCounts(t *testing.T) {
	both := Options{Count: true, Interrupt: true}
	t.Run("count cases", func(t *testing.T) {
		env := wat(t, envWAT)
		ctx := context.Background()
		for _, tc := range countCases {
			r := regionCounts(t, tc.wat)
			orig := wat(t, tc.wat)
			counted, checked := mustInstrument(t, orig), mustRewrite(t, orig, both)
			for _, arg := range tc.args {
				cm, bm := instantiatePair(t, counted, checked, env)
				var n [2]uint64
				var res [2][]uint64
				for i, m := range []api.Module{cm, bm} {
					before := readCounter(t, m)
					out, err := m.ExportedFunction("run").Call(ctx, arg)
					if err != nil {
						t.Fatalf("%s: run(%d): %v", tc.name, arg, err)
					}
					n[i], res[i] = readCounter(t, m)-before, out
				}
				if n[0] != n[1] || !slices.Equal(res[0], res[1]) {
					t.Errorf("%s: run(%d) counted %d (result %v) with checks, %d (result %v) without",
						tc.name, arg, n[1], res[1], n[0], res[0])
				}
				if want := tc.want(r, arg); n[1] != want {
					t.Errorf("%s: run(%d) counted %d, want %d", tc.name, arg, n[1], want)
				}
			}
		}
	})
	t.Run("C guest", func(t *testing.T) {
		orig := buildCFilter(t)
		a := runCFilterScenario(t, mustInstrument(t, orig), "blue")
		b := runCFilterScenario(t, mustRewrite(t, orig, both), "blue")
		if !slices.Equal(a.transcript, b.transcript) || !slices.Equal(a.counts, b.counts) || len(a.counts) == 0 {
			t.Errorf("counts %v with checks, %v without", b.counts, a.counts)
		}
	})
	t.Run("Go reactor", func(t *testing.T) {
		orig := goGuest(t, goReactorSrc, "-buildmode=c-shared")
		ns := []int32{0, 10, 1000}
		ra, ca := runGoReactor(t, mustInstrument(t, orig), ns)
		rb, cb := runGoReactor(t, mustRewrite(t, orig, both), ns)
		if !slices.Equal(ra, rb) || !slices.Equal(ca, cb) || len(ca) != len(ns) {
			t.Errorf("results %v counts %v with checks; %v %v without", rb, cb, ra, ca)
		}
	})
}

// Encoded pieces of the expected bodies in TestInterruptPlacement: the check
// with flag f and countdown f+1 (spelled out here, from the package
// documentation, rather than taken from the code under test), and the
// counting sequence of counter g adding n.
func chk(f byte) []byte { return chkMem(f, 0x41) }
func chkMem(f, growOperandConst byte) []byte {
	t := f + 1
	return cat([]byte{
		0x23, t, 0x41, 1, 0x6b, 0x24, t, // tick -= 1
		0x23, t, 0x45, 0x23, f, 0x72, // tick == 0 | flag
		0x04, 0x40, // if
		0x41}, leb128.EncodeInt32(YieldInterval), []byte{0x24, t, // tick = YieldInterval
		growOperandConst, 0, 0x40, 0, 0x1a, // memory.grow 0 pages, drop
		0x23, f, 0x04, 0x40, 0x00, 0x0b, // if flag: unreachable
		0x0b, // end
	})
}
func cnt(g, n byte) []byte       { return []byte{opGlobalGet, g, opI64Const, n, opI64Add, opGlobalSet, g} }
func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// TestInterruptPlacement pins the exact bytes: a check at the function entry
// and at the start of every loop body (after its block type, whatever its
// encoding; in dead code too), none at block or if, and with counting the
// check before the counting sequence. Type 0 is () -> (), type 1 is
// (i32) -> (i32); there are no other globals, so the flag is global 0
// alone and global 1 after the counter.
func TestInterruptPlacement(t *testing.T) {
	const (
		loop, block, ifOp, end, br, drop, i32c = opLoop, opBlock, opIf, opEnd, opBr, 0x1a, opI32Const
	)
	tests := []struct {
		name       string
		body       []byte
		interrupt  []byte // with Options{Interrupt: true}
		both       []byte // with both options
		wantResult bool   // the function has type 1 (its body leaves an i32)
	}{{
		name:      "empty function",
		body:      []byte{end},
		interrupt: cat(chk(0), []byte{end}),
		both:      cat(chk(1), []byte{end}),
	}, {
		name:      "loop",
		body:      []byte{loop, 0x40, br, 0, end, end},
		interrupt: cat(chk(0), []byte{loop, 0x40}, chk(0), []byte{br, 0, end, end}),
		both:      cat(chk(1), cnt(0, 1), []byte{loop, 0x40}, chk(1), cnt(0, 1), []byte{br, 0, end, end}),
	}, {
		name:      "nested loops",
		body:      []byte{loop, 0x40, loop, 0x40, end, end, end},
		interrupt: cat(chk(0), []byte{loop, 0x40}, chk(0), []byte{loop, 0x40}, chk(0), []byte{end, end, end}),
		both: cat(chk(1), cnt(0, 1), []byte{loop, 0x40}, chk(1), cnt(0, 1), []byte{loop, 0x40}, chk(1),
			[]byte{end, end, end}),
	}, {
		name:      "block and if get no check",
		body:      []byte{i32c, 1, ifOp, 0x40, block, 0x40, end, end, end},
		interrupt: cat(chk(0), []byte{i32c, 1, ifOp, 0x40, block, 0x40, end, end, end}),
		both:      cat(chk(1), cnt(0, 2), []byte{i32c, 1, ifOp, 0x40}, cnt(0, 1), []byte{block, 0x40, end, end, end}),
	}, {
		name:      "loop in dead code is checked too",
		body:      []byte{br, 0, loop, 0x40, end, end},
		interrupt: cat(chk(0), []byte{br, 0, loop, 0x40}, chk(0), []byte{end, end}),
		both:      cat(chk(1), cnt(0, 1), []byte{br, 0, loop, 0x40}, chk(1), []byte{end, end}),
	}, {
		name:       "loop typed by a type index, its parameter on the stack",
		body:       []byte{i32c, 5, loop, 0x01, end, end},
		interrupt:  cat(chk(0), []byte{i32c, 5, loop, 0x01}, chk(0), []byte{end, end}),
		both:       cat(chk(1), cnt(0, 2), []byte{i32c, 5, loop, 0x01}, chk(1), []byte{end, end}),
		wantResult: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := wasm.Index(0)
			if tc.wantResult {
				fn = 1
			}
			orig := binary.EncodeModule(&wasm.Module{
				TypeSection:     []*wasm.FunctionType{{}, {Params: []wasm.ValueType{wasm.ValueTypeI32}, Results: []wasm.ValueType{wasm.ValueTypeI32}}},
				FunctionSection: []wasm.Index{fn},
				CodeSection:     []*wasm.Code{{Body: tc.body}},
			})
			for _, v := range []struct {
				o    Options
				want []byte
			}{{Options{Interrupt: true}, tc.interrupt}, {Options{Count: true, Interrupt: true}, tc.both}} {
				out := mustRewrite(t, orig, v.o)
				m, err := binary.DecodeModule(out, wasm.CoreFeaturesV2)
				if err != nil {
					t.Fatalf("%+v: wabin cannot decode the output: %v", v.o, err)
				}
				if got := m.CodeSection[0].Body; !slices.Equal(got, v.want) {
					t.Errorf("%+v: body\n% x\nwant\n% x", v.o, got, v.want)
				}
				if _, err := newRuntime(t, nil).CompileModule(context.Background(), out); err != nil {
					t.Errorf("%+v: wazero rejects the output: %v", v.o, err)
				}
			}
		})
	}
}

// TestInterruptMemory: the exit to the host grows memory 0 by an i32, or an
// i64 for a 64-bit memory, and a module without any memory gets one (wazero
// and wabin do not take memory64 modules, so the modules are encoded by hand
// and read back with the package's own parser).
func TestInterruptMemory(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory []byte // memory section or import section, if any
		want   byte   // the const opcode before memory.grow
		added  bool   // Rewrite adds the memory
	}{
		{"defined i64 memory", []byte{secMemory, 3, 1, 0x04, 0}, opI64Const, false},
		{"imported i64 memory", []byte{secImport, 8, 1, 1, 'e', 1, 'm', 0x02, 0x04, 0}, opI64Const, false},
		{"defined i32 memory", []byte{secMemory, 3, 1, 0x00, 1}, opI32Const, false},
		{"empty memory section", []byte{secMemory, 1, 0}, opI32Const, true},
		{"no memory", nil, opI32Const, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mod []byte
			mod = append(mod, wasmMagic...)
			mod = append(mod, wasmVersion...)
			mod = append(mod, secType, 4, 1, 0x60, 0, 0)
			if len(tc.memory) > 0 && tc.memory[0] == secImport {
				mod = append(mod, tc.memory...)
			}
			mod = append(mod, secFunction, 2, 1, 0)
			if len(tc.memory) > 0 && tc.memory[0] == secMemory {
				mod = append(mod, tc.memory...)
			}
			mod = append(mod, secCode, 4, 1, 2, 0, opEnd)
			out := mustRewrite(t, mod, Options{Interrupt: true})
			m, err := parseModule(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.memories != 1 {
				t.Errorf("%d memories after rewriting, want 1", m.memories)
			}
			if tc.added {
				if mem := out[m.sections[m.memory].payload:m.sections[m.memory].end]; !slices.Equal(mem, []byte{1, 0x01, 0, 0}) {
					t.Errorf("memory section % x, want one memory of 0 pages, maximum 0", mem)
				}
			}
			if tc.want == opI32Const {
				if _, err := newRuntime(t, nil).CompileModule(context.Background(), out); err != nil {
					t.Errorf("wazero rejects the output: %v", err)
				}
			}
			body := out[m.bodies[0].body:m.bodies[0].end]
			if want := cat(chkMem(0, tc.want), []byte{opEnd}); !slices.Equal(body, want) {
				t.Errorf("body\n% x\nwant\n% x", body, want)
			}
		})
	}
}

// TestRewriteErrors covers what Rewrite refuses beyond Instrument's rules.
func TestRewriteErrors(t *testing.T) {
	valid := moduleWithBody([]byte{opEnd})
	simd := wat(t, `(module (func (result i32) v128.const i32x4 1 2 3 4 i32x4.extract_lane 2))`)
	tests := []struct {
		name        string
		wasm        []byte
		o           Options
		want        string
		unsupported bool
	}{
		{"no option", valid, Options{}, "no rewrite selected", false},
		{"interrupt twice", mustRewrite(t, valid, Options{Interrupt: true}), Options{Interrupt: true},
			`already exports "nicrt_interrupt"`, false},
		{"count after interrupt", mustRewrite(t, valid, Options{Interrupt: true}), Options{Count: true, Interrupt: true},
			`already exports "nicrt_interrupt"`, false},
		{"counted module, both", mustInstrument(t, valid), Options{Count: true, Interrupt: true},
			`already exports "nicrt_icount"`, false},
		{"SIMD, interrupt only", simd, Options{Interrupt: true}, "SIMD instruction (opcode 0xfd)", true},
		{"malformed", valid[:len(valid)-1], Options{Interrupt: true}, "runs past the end of the module", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Rewrite(tc.wasm, tc.o)
			if err == nil || out != nil {
				t.Fatalf("Rewrite = %d bytes, %v; want only an error", len(out), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v, want %v", !tc.unsupported, tc.unsupported)
			}
		})
	}
	// An instrumented module can still be made interruptible in a second
	// pass; only Count must not see the checks (it would count them).
	two := mustRewrite(t, mustInstrument(t, valid), Options{Interrupt: true})
	checkStructure(t, valid, two, Options{Count: true, Interrupt: true})
}

// TestInstrumentIsRewriteCount: Instrument is exactly Rewrite with Count.
func TestInstrumentIsRewriteCount(t *testing.T) {
	for _, b := range [][]byte{buildCFilter(t), wat(t, countCases[7].wat)} {
		a, err := Instrument(b)
		if err != nil {
			t.Fatal(err)
		}
		if c := mustRewrite(t, b, Options{Count: true}); string(a) != string(c) {
			t.Error("Instrument and Rewrite(Count) differ")
		}
	}
}

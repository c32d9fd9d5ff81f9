// Package icount rewrites a WebAssembly module for the host that runs it:
// so that it counts the instructions it executes, deterministically
// (Options.Count; Instrument), and so that the host can stop a runaway call
// cheaply (Options.Interrupt). Rewrite applies both in one pass.
//
// The simulated SmartNIC charges a filter's time as executed wasm
// instructions × cycles per instruction ÷ NIC clock. Measuring host time would
// make that depend on the machine and its load; counting instructions makes
// the same request cost the same simulated time on every machine and run.
//
// # What counts
//
// Every instruction of the original module that executes counts 1, each time
// it executes, with two exceptions: the end that closes a block, loop, if or
// function, and the else that separates the arms of an if. Those are
// delimiters of the structured syntax, not operations. In particular:
//
//   - block, loop and if count 1 each time control enters them; a loop's
//     iterations count their body, and the br or br_if that jumps back, but
//     not the loop instruction again;
//   - br, br_if, br_table, return, call, call_indirect and unreachable count 1;
//     a prefixed instruction (0xFC n) counts 1;
//   - instructions that never run (dead code after an unconditional branch)
//     count nothing; neither does the counting code itself;
//   - the work of imported (host) functions is not wasm and is not counted:
//     only the call instruction that reaches them is.
//
// # How
//
// Rewrite decodes each function body, splits it into basic blocks and puts
// at the start of each non-empty one
//
//	global.get $nicrt_icount
//	i64.const  N            ;; instructions in this block
//	i64.add
//	global.set $nicrt_icount
//
// A basic block starts at the function entry, at the start of a loop body, at
// the start of each arm of an if, after br_if, and after the end of a block
// or if that control can reach by a branch or by skipping an arm. Within a
// block execution is straight-line, so N is exact for any call that returns.
// Calls do not end a block: a call always resumes at the next instruction
// when it returns, and the callee's instructions go to the same global.
//
// The counter is an exported mutable i64 global (GlobalName) appended after
// every existing global, so no global index shifts. It starts at 0 when the
// module is instantiated and accumulates (modulo 2^64), including during the
// start function and _initialize; the cost of one call is the difference of
// two reads. Multi-value blocks are fine: the sequence is stack-neutral.
//
// # Determinism
//
// The count is a function of the instructions executed, so it is as
// deterministic as the guest's inputs. Randomness and clocks are inputs:
// a stock-Go guest seeds its map hashing and iteration order from WASI
// random_get, and the same map-heavy call was measured to vary by about 1%
// between instances given crypto-strength randomness, and not at all given a
// fixed random source (wazero's default). A host that wants the same request
// to cost the same everywhere gives the instrumented VMs a fixed random
// source and a deterministic clock.
//
// # Traps and aborted calls
//
// A block's count is added when the block starts. If execution stops inside
// a block — a trap (unreachable, out-of-bounds access, division by zero,
// stack overflow), or a host function that aborts the call (WASI proc_exit,
// a cancelled context) — the instructions of that block after the stopping
// point are counted although they did not run; the same holds in each caller
// frame for the rest of the block that contains its pending call. The count
// of an aborted call is therefore an upper bound, exceeding the truth by at
// most the remaining length of one basic block per active frame. Later calls
// are unaffected: their differences are exact. (A runtime discards a VM
// whose callback trapped anyway.)
//
// # Interruption
//
// A callback that spins forever must cost its VM, not its goroutine or the
// process. wazero's WithCloseOnContextDone does this by starting a goroutine
// on every call into the guest and leaving compiled code for Go at every
// loop iteration. Interrupt instead puts this check at the start of every
// function body (after its locals) and of every loop body:
//
//	global.get $tick  i32.const 1  i32.sub  global.set $tick
//	global.get $tick  i32.eqz  global.get $nicrt_interrupt  i32.or
//	if
//	  i32.const 4096  global.set $tick       ;; YieldInterval
//	  i32.const 0  memory.grow 0  drop       ;; leave compiled code for Go
//	  global.get $nicrt_interrupt
//	  if  unreachable  end
//	end
//
// The host sets the exported mutable i32 nicrt_interrupt (0 at
// instantiation) to 1 from another goroutine, and the guest traps
// (unreachable) at its next check. $tick is a private countdown, appended
// after the flag and not exported. The check is stack-neutral and its blocks
// have the empty type, so it is valid where a loop's parameters are on the
// stack; it goes into dead loops too, where it is valid and never runs. With
// Count as well it comes before the counting sequence and is not counted:
// counts are exactly those of Count alone, and an interrupted block is not
// counted.
//
// Nothing runs unboundedly without passing a check. Within one activation
// of a function, control moves backwards only by a branch (br, br_if or
// br_table) to a loop's label, which lands on the start of the loop body,
// where a check is: block and if labels are forward, at their end. So
// between two checks an activation executes at most the straight-line length
// of its body. Every call, direct, through call_indirect, or from the host,
// enters a function body and passes its entry check; recursion is a chain of
// entries. Returns unwind frames that each passed a check on entry, at most
// as many as the stack holds. Tail calls and exceptions, which would add
// other transfers, are refused (ErrUnsupported). Bulk memory and table
// instructions are single instructions whose work is bounded by the memory
// or table size. Not covered: what is not wasm, i.e. the host's own
// functions (a WASI poll_oneoff that sleeps is the host's to bound), and a
// start function, which runs inside instantiation before the host holds the
// module and its flag (nicrt calls _initialize as an ordinary export).
//
// Why the countdown: a flag is not enough under Go. Go cannot preempt a
// goroutine running wazero's compiled code (the preemption signal finds no Go
// function at the interrupted instruction), and a stop-the-world of the
// garbage collector waits for every goroutine while no other runs — the
// watchdog that would set the flag included. With the flag alone this
// package's tests froze for minutes at the first collection during a spin,
// in gcMarkDone. So every YieldInterval checks the guest executes memory.grow
// of 0 pages, which changes nothing and which wazero's compiler turns into an
// exit to Go: MemoryInstance.Grow begins with a stack check, where the
// scheduler stops a goroutine it has asked to stop. The tests force two
// collections while each guest spins. A module without any memory gets one
// of 0 pages with a maximum of 0 for this; a 64-bit memory 0 gets an i64
// operand.
//
// Why wazero's optimizing compiler (wazevo, v1.12.0) does not hoist the
// loads out of the loop, from its source: the frontend lowers global.get
// with getWasmGlobalValue, which reuses an earlier value only through
// FindValueInLinearPath, i.e. a definition in the current block or,
// following single predecessors, in sealed blocks before it. A loop's
// header block is created by the loop instruction and sealed only at the
// loop's end, and the check is the first thing in the loop body, so each
// global.get there emits a load from the module context, executed on every
// iteration; at a function entry nothing is defined yet. Globals never become
// block parameters (only locals go through MustFindValue). The SSA passes
// (successor sorting, dead block and dead code elimination, dominators,
// redundant phi elimination, a shift-by-zero nop pass, block layout, loop
// nesting) neither move instructions across blocks nor merge loads: there is
// no loop-invariant code motion, value numbering or common subexpression
// elimination, and a used load is live. The backend merges a load into its
// user only within one instruction group, and groups never span blocks. The
// tests confirm it: every spinning guest, WAT loops, a recursion without
// loops, stock Go, C, stops within about a millisecond of the write.
//
// The host's side, for nicrt's runtime:
//
//   - use wazero's compiler (the default on amd64 and arm64) without
//     WithCloseOnContextDone, and call _initialize and every callback as
//     ordinary exports;
//   - the watchdog goroutine sets the flag (api.MutableGlobal.Set(1)) of a
//     VM whose callback has overrun; the calling goroutine never writes it.
//     With the compiler, Set writes the global's slot in the module's context
//     memory, which the compiled code reads; under wazero's interpreter the
//     same write is a data race in Go's memory model (the interpreter reads a
//     Go field), so interruption is for the compiler;
//   - the call returns wazero's trap error ("wasm error: unreachable" and a
//     stack trace). A guest executes unreachable itself too (C's abort, a
//     failed check), so the host tells an interruption by its own record
//     that it set the flag, and discards the VM either way;
//   - the flag stays set, so any later call into that VM traps at its
//     entry: a write that lands after the callback returned hits the next
//     callback. A host that does not discard every VM its watchdog fired on
//     must order the write against the end of the call.
//
// # Cost
//
// Counting: each non-empty basic block gains one sequence of about 12
// bytes (a stock-Go module grows by ~14%, the C test guest by ~25%) and runs
// four extra instructions, a load, an add and a store of the global.
// Interrupt: each function and loop gains a check of about 30 bytes (the Go
// module grows by ~3.6%, the C guest by ~13%) and runs nine instructions
// per check (two loads, a store, one branch), plus the exit to Go every
// YieldInterval checks. Measured with
// wazero's compiler on this project's 2-core machine (BenchmarkOverhead: the
// four variants interleaved, minimum times), in percent over the original:
//
//	                                                   Count  Interrupt  WithCloseOnContextDone
//	tight WAT sum loop (~2 cycles per iteration)         ~0      ~99          ~4000
//	C xorshift loop (21 instructions per iteration)      ~0     ~0.7          ~1400
//	one request through the C Proxy-Wasm filter          ±6       ±6           ~114
//	stock-Go reactor sorting and hashing 100 ints       ~19      ~20           ~325
//
// (±6: host calls dominate and the noise exceeds the difference.) Counting
// costs Go code most, dense in short blocks (calls, bounds checks, its
// resumable-stack dispatch); loops whose own dependency chain is longer than
// the counter's load-add-store overlap the two. Interrupt costs what a check
// per function call and per loop iteration costs: about half of the Go
// figure is the flag alone, the rest the countdown. In the tightest loop,
// half of it is the check's own instructions and half wazero's register
// allocator, which stores the loop's variables on every iteration once they
// live across a call, here the exit to Go that runs once per YieldInterval
// iterations. Rewrite itself takes ~13 ms (Interrupt) to ~18 ms (Count) for
// a 2.8 MB Go module (BenchmarkRewrite).
//
//	go test -run '^$' -bench . -benchtime 2s ./runtime/internal/icount
//
// # Limits
//
// Modules must be core WebAssembly 2.0 without SIMD: instructions from the
// SIMD, threads, exception handling, tail call, typed references, GC and
// multi-memory proposals are refused with an error wrapping ErrUnsupported
// that names the function and byte offset; a host then falls back to
// another mechanism (e.g. WithCloseOnContextDone). Every section other than
// global, export and code (and, for Interrupt in a module without memory,
// memory) is copied unchanged and in place, custom and name sections
// included; DWARF sections (.debug_*), which address code bytes, then
// describe the original code, not the rewritten one. Apply both rewrites in
// one Rewrite: counting a module that already has the checks would count
// them.
package icount

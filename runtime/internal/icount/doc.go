// Package icount instruments a WebAssembly module so that it counts the
// instructions it executes, deterministically.
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
// Instrument decodes each function body, splits it into basic blocks and puts
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
// # Cost
//
// Each non-empty basic block gains one sequence of about 12 bytes: a
// stock-Go module grows by ~14%, the C test guest by ~25%. Each executed
// block runs four extra instructions, a load, an add and a store of the
// global; how much that costs depends on the code around it. Measured with
// wazero's compiler on this project's 2-core machine (BenchmarkOverhead,
// original and instrumented interleaved, medians of paired samples):
//
//	tight WAT sum loop (2 blocks of 4 and 9 instructions per iteration)  ~0%
//	C xorshift loop (1 block of 21 instructions per iteration)           ~0.3%
//	one request through the C Proxy-Wasm filter, host calls included     ~1.5%
//	stock-Go reactor sorting and hashing 100 ints                         ~19%
//
// Loops whose own dependency chain is longer than the counter's
// load-add-store overlap the two; Go code, dense in short blocks (calls,
// bounds checks, its resumable-stack dispatch), pays most. Instrument itself
// takes ~13 ms for a 2.8 MB Go module (BenchmarkInstrument).
//
//	go test -run '^$' -bench . -benchtime 2s ./runtime/internal/icount
//
// # Limits
//
// Modules must be core WebAssembly 2.0 without SIMD: instructions from the
// SIMD, threads, exception handling, tail call, typed references, GC and
// multi-memory proposals are refused with an error wrapping ErrUnsupported
// that names the function and byte offset. Every section other than global,
// export and code is copied unchanged and in place, custom and name
// sections included; DWARF sections (.debug_*), which address code bytes,
// then describe the original code, not the instrumented one.
package icount

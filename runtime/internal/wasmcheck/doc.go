// Package wasmcheck checks that an untrusted WebAssembly module is
// structurally safe to hand to wazero's compiler, before nicrt does.
//
// # Why
//
// wazero v1.12.0 decodes a module by allocating slices sized by the counts
// it reads — of imports, types, parameters, functions, locals, data bytes,
// name map entries — before it checks them against the bytes that remain. A
// 15-byte module declaring 2^32-1 imports makes it allocate hundreds of
// gigabytes: the Go runtime aborts the whole process with a fatal
// out-of-memory error that no recover() catches, and every stream of the
// data plane dies with it. Other malformed modules make it panic. nicrt's
// rule is that bad input gets a clear error and loses nothing, so the
// runtime runs Check on every module before CompileModule.
//
// # What Check guarantees
//
// Check walks the module once, section by section (ids 0 to 13), and
// decodes every number that sizes something: each vector count is checked
// against the bytes left in its section, given the minimal encoding of one
// entry, before anything else; each length (names, section and subsection
// sizes, function bodies, data) against the bytes left; each LEB128 number
// against its width (overlong and overflowing encodings are refused; padded
// ones within the width are valid wasm and accepted). Where the format lets
// a few bytes stand for many things — locals, declared as (count, type)
// runs — and where counts are large, Check holds the module to the limits
// of the WebAssembly JavaScript API, which V8, Envoy's default engine,
// enforces too (see the Max constants and MinLocalsAllowance).
//
// For a module Check accepts, what wazero allocates to compile it is then
// proportional to its size. TestWorstCases measures the factor with modules
// that pack the most entries of each kind into 1 MB: at most ~190 bytes
// allocated (~85 bytes of peak resident memory) per input byte, for a module
// made of empty function types; a stock-Go filter costs ~14. FuzzCheck
// checks the claim itself: whatever bytes Check accepts, CompileModule, run
// in a child process, neither crashes it nor panics nor hangs.
//
// Check does not validate semantics: types, indices and instructions are
// wazero's to check, and it does so without trusting counts. Of constant
// expressions Check decodes the instructions wazero accepts in one; of
// function bodies only the size, the locals and the final end.
//
// # Errors
//
// Errors are *Error values naming the section, the byte offset in the
// module and what is wrong, e.g.
//
//	wasmcheck: import section at byte offset 10 (0xa): declares 4294967295 imports but only 0 bytes remain in the section (each needs at least 4)
//
// They wrap ErrMalformed, or ErrLimit when a well-formed module exceeds a
// limit.
//
// # Cost
//
// Check takes time proportional to the number of entries, not to the
// module's size, and allocates nothing unless it fails: ~1.1 ms for a 2.9 MB
// stock-Go filter of 34,000 data segments, against ~1.8 s for wazero to
// compile it (BenchmarkCheck).
package wasmcheck

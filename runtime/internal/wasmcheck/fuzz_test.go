package wasmcheck

import (
	"errors"
	"testing"
)

// FuzzCheck proves the point of Check. For any bytes:
//   - Check does not panic, and its error is an *Error in the documented
//     form, naming a section and an offset within the input;
//   - if Check accepts them, wazero's CompileModule (run in the compile
//     server, see compiler_test.go) neither kills the process nor panics nor
//     hangs, and allocates no more than allocBudget;
//   - if Check refuses them as malformed, wazero does not compile them
//     either, but for a few documented places where wazero is lax (see
//     wazeroIsLax): Check refuses nothing nicrt could otherwise run, bar its
//     stated limits.
//
// Seeds: the modules that crashed wazero, every malformed and valid case of
// the table tests, and real modules from clang and wat2wasm. The Go modules
// (1 to 3 MB) are left to TestValidModules: every mutation of one would cost
// wazero a second to compile.
//
//	go test -run '^$' -fuzz FuzzCheck -fuzztime 10m ./runtime/internal/wasmcheck
func FuzzCheck(f *testing.F) {
	f.Add(crasherImports)
	f.Add(crasherCode)
	f.Add(crasherEmptyImports)
	for _, tc := range badModules {
		if len(tc.wasm) < 4096 {
			f.Add(tc.wasm)
		}
	}
	for _, tc := range validModules(f) {
		if len(tc.wasm) < 1<<20 {
			f.Add(tc.wasm)
		}
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		err := Check(wasm)
		checkErrorShape(t, wasm, err)
		o := compileInChild(t, wasm)
		if err == nil {
			if o.kind > rejected {
				t.Fatalf("Check accepted a module on which wazero %v", o)
			}
			if o.alloc > allocBudget(len(wasm)) {
				t.Fatalf("Check accepted a module that made wazero allocate %d bytes, more than the budget of %d: %v",
					o.alloc, allocBudget(len(wasm)), o)
			}
			return
		}
		var e *Error
		errors.As(err, &e)
		if o.kind == compiled && !e.Limit && wazeroIsLax(e) == "" {
			t.Fatalf("Check refused a module wazero compiles: %v", err)
		}
	})
}

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/wasmrun"
	"github.com/nicrt/nicrt/runtime"
)

// TestRuntimePassthrough: built to wasm and run in nicrt's runtime, the
// filter forwards requests unchanged, and refuses a configuration.
func TestRuntimePassthrough(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "passthrough", "", 2))
	in := wasmrun.Request("reviews:9080", "/reviews/0", "end-user", "jason")
	for i := 0; i < 4; i++ {
		v, out, lr := wasmrun.Do(wasmrun.Context(t), c, in.Clone())
		if v != runtime.Continue || lr != nil || fmt.Sprint(out) != fmt.Sprint(in) {
			t.Fatalf("verdict %v, local response %v, headers %v", v, lr, out)
		}
	}
	if err := wasmrun.LoadFailing(t, h, "passthrough", `{"x": 1}`); !strings.Contains(err.Error(), "passthrough takes no configuration") {
		t.Errorf("load error: %v", err)
	}
}

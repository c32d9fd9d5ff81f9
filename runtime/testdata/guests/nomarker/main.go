// Command nomarker is a wasm reactor that exports callbacks but no
// proxy_abi_version_* marker: nicrt must refuse it and say why.
package main

import "unsafe"

func main() {}

//go:wasmexport proxy_on_memory_allocate
func alloc(n uint32) unsafe.Pointer { b := make([]byte, n+1); return unsafe.Pointer(&b[0]) }

//go:wasmexport proxy_on_context_create
func contextCreate(id, parent uint32) {}

// Command badimport imports a host function nicrt does not provide and one
// with the wrong signature: nicrt must refuse it and list both.
package main

import "unsafe"

func main() {}

//go:wasmimport env proxy_teleport
func teleport(x uint32) uint32

//go:wasmimport env proxy_log
func badLog(level uint32) uint32

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func alloc(n uint32) unsafe.Pointer { b := make([]byte, n+1); return unsafe.Pointer(&b[0]) }

//go:wasmexport proxy_on_context_create
func contextCreate(id, parent uint32) { teleport(id); badLog(id) }

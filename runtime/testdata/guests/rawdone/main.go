// Command rawdone is a Proxy-Wasm guest written against the raw ABI, without
// nicrt's glue: it defers the end of every stream context (proxy_on_done
// returns false) and finishes them from its timer with proxy_done, so the
// host's deferred-finalization path can be tested.
package main

import "unsafe"

func main() {}

//go:wasmimport env proxy_set_tick_period_milliseconds
func setTick(ms uint32) uint32

//go:wasmimport env proxy_set_effective_context
func setEffective(id uint32) uint32

//go:wasmimport env proxy_done
func done() uint32

//go:wasmimport env proxy_define_metric
func defineMetric(t uint32, name unsafe.Pointer, n uint32, ret unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func incMetric(id uint32, d int64) uint32

var (
	pinned           [][]byte
	root             uint32
	pending          []uint32
	logged, deleted  uint32
	doneStatus       uint32
	doneStatusMetric uint32
)

func metric(name string) uint32 {
	var id uint32
	defineMetric(0, unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), unsafe.Pointer(&id))
	return id
}

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func alloc(n uint32) unsafe.Pointer {
	b := make([]byte, n+1)
	pinned = append(pinned, b)
	return unsafe.Pointer(&b[0])
}

//go:wasmexport proxy_on_context_create
func contextCreate(id, parent uint32) {
	if parent == 0 {
		root = id
	}
}

//go:wasmexport proxy_on_configure
func configure(id, size uint32) uint32 {
	logged, deleted = metric("raw_logged"), metric("raw_deleted")
	doneStatusMetric = metric("raw_done_ok")
	setTick(5)
	return 1
}

//go:wasmexport proxy_on_request_headers
func requestHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 {
	if id == root {
		return 1
	}
	pending = append(pending, id)
	return 0
}

//go:wasmexport proxy_on_tick
func onTick(id uint32) {
	for _, c := range pending {
		if setEffective(c) == 0 && done() == 0 {
			incMetric(doneStatusMetric, 1)
		}
	}
	pending = pending[:0]
	setEffective(root)
}

//go:wasmexport proxy_on_log
func onLog(id uint32) { incMetric(logged, 1) }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) { incMetric(deleted, 1) }

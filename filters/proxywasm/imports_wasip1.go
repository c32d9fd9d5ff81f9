//go:build wasip1

package proxywasm

import "unsafe"

// Host functions of Proxy-Wasm ABI v0.2.1 (module "env"). Pointers are
// guest addresses; sizes are u32 (size_t on wasm32). Every function returns
// proxy_status_t.

//go:wasmimport env proxy_log
func hostLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_log_level
func hostGetLogLevel(ret unsafe.Pointer) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func hostSetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hostGetBufferBytes(bt, start, max uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_buffer_bytes
func hostSetBufferBytes(bt, start, size uint32, data unsafe.Pointer, dataSize uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hostGetHeaderMapPairs(mt uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_header_map_pairs
func hostSetHeaderMapPairs(mt uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func hostGetHeaderMapValue(mt uint32, key unsafe.Pointer, keySize uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_add_header_map_value
func hostAddHeaderMapValue(mt uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func hostReplaceHeaderMapValue(mt uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func hostRemoveHeaderMapValue(mt uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_continue_stream
func hostContinueStream(st uint32) uint32

//go:wasmimport env proxy_close_stream
func hostCloseStream(st uint32) uint32

//go:wasmimport env proxy_send_local_response
func hostSendLocalResponse(status uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, headers unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_http_call
func hostHTTPCall(upstream unsafe.Pointer, upstreamSize uint32, headers unsafe.Pointer, headersSize uint32, body unsafe.Pointer, bodySize uint32, trailers unsafe.Pointer, trailersSize uint32, timeout uint32, retToken unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func hostSetSharedData(key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32, cas uint32) uint32

//go:wasmimport env proxy_get_shared_data
func hostGetSharedData(key unsafe.Pointer, keySize uint32, retData, retSize, retCAS unsafe.Pointer) uint32

//go:wasmimport env proxy_register_shared_queue
func hostRegisterSharedQueue(name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_resolve_shared_queue
func hostResolveSharedQueue(vmID unsafe.Pointer, vmIDSize uint32, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func hostEnqueueSharedQueue(id uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func hostDequeueSharedQueue(id uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_define_metric
func hostDefineMetric(mt uint32, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_record_metric
func hostRecordMetric(id uint32, value uint64) uint32

//go:wasmimport env proxy_increment_metric
func hostIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_get_metric
func hostGetMetric(id uint32, retValue unsafe.Pointer) uint32

//go:wasmimport env proxy_get_property
func hostGetProperty(path unsafe.Pointer, pathSize uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_property
func hostSetProperty(path unsafe.Pointer, pathSize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func hostCallForeignFunction(name unsafe.Pointer, nameSize uint32, args unsafe.Pointer, argsSize uint32, retData, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_done
func hostDone() uint32

//go:wasmimport env proxy_set_effective_context
func hostSetEffectiveContext(id uint32) uint32

package runtime

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/nicrt/nicrt/runtime/internal/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

const envModule = "env"

// hostFunc is one function of the "env" module. Every Proxy-Wasm host
// function returns proxy_status_t; all parameters are i32 except where i64
// lists them.
type hostFunc struct {
	name   string
	params int
	i64    []int // indexes of i64 parameters
	fn     func(v *vm, st []uint64) abi.Status
}

var envFuncs = []hostFunc{
	// logging and clocks
	{"proxy_log", 3, nil, (*vm).proxyLog},
	{"proxy_get_log_level", 1, nil, (*vm).proxyGetLogLevel},
	{"proxy_get_current_time_nanoseconds", 1, nil, (*vm).proxyGetCurrentTime},
	{"proxy_set_tick_period_milliseconds", 1, nil, (*vm).proxySetTickPeriod},
	// buffers
	{"proxy_get_buffer_bytes", 5, nil, (*vm).proxyGetBufferBytes},
	{"proxy_set_buffer_bytes", 5, nil, (*vm).proxySetBufferBytes},
	{"proxy_get_buffer_status", 3, nil, (*vm).proxyGetBufferStatus},
	// header maps
	{"proxy_get_header_map_size", 2, nil, (*vm).proxyGetHeaderMapSize},
	{"proxy_get_header_map_pairs", 3, nil, (*vm).proxyGetHeaderMapPairs},
	{"proxy_set_header_map_pairs", 3, nil, (*vm).proxySetHeaderMapPairs},
	{"proxy_get_header_map_value", 5, nil, (*vm).proxyGetHeaderMapValue},
	{"proxy_add_header_map_value", 5, nil, (*vm).proxyAddHeaderMapValue},
	{"proxy_replace_header_map_value", 5, nil, (*vm).proxyReplaceHeaderMapValue},
	{"proxy_remove_header_map_value", 3, nil, (*vm).proxyRemoveHeaderMapValue},
	// stream control
	{"proxy_continue_stream", 1, nil, (*vm).proxyContinueStream},
	{"proxy_close_stream", 1, nil, (*vm).proxyCloseStream},
	{"proxy_send_local_response", 8, nil, (*vm).proxySendLocalResponse},
	{"proxy_get_status", 3, nil, (*vm).proxyGetStatus},
	// callouts
	{"proxy_http_call", 10, nil, (*vm).proxyHTTPCall},
	{"proxy_grpc_call", 12, nil, grpcUnimplemented("proxy_grpc_call")},
	{"proxy_grpc_stream", 9, nil, grpcUnimplemented("proxy_grpc_stream")},
	{"proxy_grpc_send", 4, nil, grpcUnimplemented("proxy_grpc_send")},
	{"proxy_grpc_cancel", 1, nil, grpcUnimplemented("proxy_grpc_cancel")},
	{"proxy_grpc_close", 1, nil, grpcUnimplemented("proxy_grpc_close")},
	// shared state
	{"proxy_set_shared_data", 5, nil, (*vm).proxySetSharedData},
	{"proxy_get_shared_data", 5, nil, (*vm).proxyGetSharedData},
	{"proxy_register_shared_queue", 3, nil, (*vm).proxyRegisterSharedQueue},
	{"proxy_resolve_shared_queue", 5, nil, (*vm).proxyResolveSharedQueue},
	{"proxy_enqueue_shared_queue", 3, nil, (*vm).proxyEnqueueSharedQueue},
	{"proxy_dequeue_shared_queue", 3, nil, (*vm).proxyDequeueSharedQueue},
	// metrics
	{"proxy_define_metric", 4, nil, (*vm).proxyDefineMetric},
	{"proxy_record_metric", 2, []int{1}, (*vm).proxyRecordMetric},
	{"proxy_increment_metric", 2, []int{1}, (*vm).proxyIncrementMetric},
	{"proxy_get_metric", 2, nil, (*vm).proxyGetMetric},
	// properties, foreign functions, context control
	{"proxy_get_property", 4, nil, (*vm).proxyGetProperty},
	{"proxy_set_property", 4, nil, (*vm).proxySetProperty},
	{"proxy_call_foreign_function", 6, nil, (*vm).proxyCallForeignFunction},
	{"proxy_done", 0, nil, (*vm).proxyDone},
	{"proxy_set_effective_context", 1, nil, (*vm).proxySetEffectiveContext},
}

func instantiateEnv(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(envModule)
	for _, f := range envFuncs {
		params := make([]api.ValueType, f.params)
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		for _, i := range f.i64 {
			params[i] = api.ValueTypeI64
		}
		fn := f.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, st []uint64) {
				var v *vm
				if c, ok := ctx.(*vmContext); ok {
					v = c.v
				} else {
					v, _ = ctx.Value(vmKey{}).(*vm)
				}
				if v == nil {
					st[0] = uint64(abi.StatusInternalFailure)
					return
				}
				st[0] = uint64(fn(v, st))
			}), params, []api.ValueType{api.ValueTypeI32}).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func u32(st []uint64, i int) uint32 { return uint32(st[i]) }

// ---- logging and clocks ----

func (v *vm) proxyLog(st []uint64) abi.Status {
	level := LogLevel(u32(st, 0))
	msg, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if level > LogCritical {
		return abi.StatusBadArgument
	}
	v.guestLogBytes(level, msg)
	return abi.StatusOK
}

func (v *vm) proxyGetLogLevel(st []uint64) abi.Status {
	if !v.mem.WriteUint32Le(u32(st, 0), uint32(v.p.host.cfg.LogLevel)) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) proxyGetCurrentTime(st []uint64) abi.Status {
	if !v.mem.WriteUint64Le(u32(st, 0), uint64(time.Now().UnixNano())) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) proxySetTickPeriod(st []uint64) abi.Status {
	v.setTick(time.Duration(u32(st, 0)) * time.Millisecond)
	return abi.StatusOK
}

// ---- buffers ----

// buffer returns the buffer a guest may read now.
func (v *vm) buffer(t abi.BufferType) ([]byte, abi.Status) {
	switch t {
	case abi.BufferHTTPRequestBody, abi.BufferHTTPResponseBody:
		if v.cur == nil {
			return nil, abi.StatusNotFound
		}
		s, d := v.cur.s, direction(t-abi.BufferHTTPRequestBody)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.dirs[d].phase.load() != phaseBody {
			return nil, abi.StatusNotFound
		}
		return s.dirs[d].body, abi.StatusOK
	case abi.BufferHTTPCallResponseBody:
		if v.callResp == nil {
			return nil, abi.StatusNotFound
		}
		return v.callResp.body, abi.StatusOK
	case abi.BufferVMConfiguration:
		return v.p.cfg.VMConfiguration, abi.StatusOK
	case abi.BufferPluginConfiguration:
		return v.p.cfg.Configuration, abi.StatusOK
	case abi.BufferDownstreamData, abi.BufferUpstreamData, abi.BufferGRPCCallMessage, abi.BufferForeignFunctionArguments:
		return nil, abi.StatusNotFound
	}
	return nil, abi.StatusBadArgument
}

func (v *vm) proxyGetBufferBytes(st []uint64) abi.Status {
	buf, s := v.buffer(abi.BufferType(u32(st, 0)))
	if s != abi.StatusOK {
		return s
	}
	start, max := uint64(u32(st, 1)), uint64(u32(st, 2))
	if start > uint64(len(buf)) {
		return abi.StatusBadArgument
	}
	end := min(start+max, uint64(len(buf)))
	return v.returnBytes(buf[start:end], u32(st, 3), u32(st, 4))
}

func (v *vm) proxySetBufferBytes(st []uint64) abi.Status {
	t := abi.BufferType(u32(st, 0))
	data, ok := v.read(u32(st, 3), u32(st, 4))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if t != abi.BufferHTTPRequestBody && t != abi.BufferHTTPResponseBody {
		if t > abi.BufferForeignFunctionArguments {
			return abi.StatusBadArgument
		}
		return abi.StatusNotFound // read-only or not available in nicrt
	}
	if v.cur == nil {
		return abi.StatusNotFound
	}
	s, d := v.cur.s, direction(t-abi.BufferHTTPRequestBody)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs[d].phase.load() != phaseBody {
		return abi.StatusNotFound
	}
	old := s.dirs[d].body
	start, size := uint64(u32(st, 1)), uint64(u32(st, 2))
	if start > uint64(len(old)) {
		start = uint64(len(old)) // append
	}
	size = min(size, uint64(len(old))-start)
	// Always build a new slice: old may alias the data plane's read buffer.
	nb := make([]byte, 0, uint64(len(old))-size+uint64(len(data)))
	nb = append(nb, old[:start]...)
	nb = append(nb, data...)
	nb = append(nb, old[start+size:]...)
	s.dirs[d].body = nb
	return abi.StatusOK
}

func (v *vm) proxyGetBufferStatus(st []uint64) abi.Status {
	buf, s := v.buffer(abi.BufferType(u32(st, 0)))
	if s != abi.StatusOK {
		return s
	}
	if !v.mem.WriteUint32Le(u32(st, 1), uint32(len(buf))) || !v.mem.WriteUint32Le(u32(st, 2), 0) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

// ---- header maps ----

// fields returns the map a guest addresses; write asks whether it may be
// changed now (only while its own phase runs, so the data plane never reads
// a map a filter is changing).
func (v *vm) fields(t abi.MapType, write bool) (*Fields, abi.Status) {
	switch t {
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers, abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		if v.cur == nil {
			return nil, abi.StatusNotFound
		}
		s := v.cur.s
		var f *Fields
		var d direction
		var ph phase
		switch t {
		case abi.MapHTTPRequestHeaders:
			f, d, ph = s.reqHeaders, dirRequest, phaseHeaders
		case abi.MapHTTPRequestTrailers:
			f, d, ph = s.reqTrailers, dirRequest, phaseTrailers
		case abi.MapHTTPResponseHeaders:
			f, d, ph = s.respHeaders, dirResponse, phaseHeaders
		default:
			f, d, ph = s.respTrailers, dirResponse, phaseTrailers
		}
		if f == nil {
			return nil, abi.StatusNotFound
		}
		if write {
			if s.dirs[d].phase.load() != ph {
				return nil, abi.StatusBadArgument
			}
		}
		return f, abi.StatusOK
	case abi.MapHTTPCallResponseHeaders, abi.MapHTTPCallResponseTrailers:
		if v.callResp == nil || write {
			return nil, abi.StatusNotFound
		}
		if t == abi.MapHTTPCallResponseHeaders {
			return &v.callResp.headers, abi.StatusOK
		}
		return &v.callResp.trailers, abi.StatusOK
	case abi.MapGRPCInitialMetadata, abi.MapGRPCTrailingMetadata:
		return nil, abi.StatusNotFound
	}
	return nil, abi.StatusBadArgument
}

func (v *vm) proxyGetHeaderMapSize(st []uint64) abi.Status {
	f, s := v.fields(abi.MapType(u32(st, 0)), false)
	if s != abi.StatusOK {
		return s
	}
	if !v.mem.WriteUint32Le(u32(st, 1), uint32(abi.EncodedSize(len(*f), f.kvSize()))) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) proxyGetHeaderMapPairs(st []uint64) abi.Status {
	f, s := v.fields(abi.MapType(u32(st, 0)), false)
	if s != abi.StatusOK {
		return s
	}
	return v.returnFields(*f, u32(st, 1), u32(st, 2))
}

func (v *vm) proxySetHeaderMapPairs(st []uint64) abi.Status {
	b, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	f, s := v.fields(abi.MapType(u32(st, 0)), true)
	if s != abi.StatusOK {
		return s
	}
	nf, err := decodeFields(b)
	if err != nil {
		v.warnOnce("proxy_set_header_map_pairs", "guest passed a malformed header map: "+err.Error())
		return abi.StatusBadArgument
	}
	*f = nf
	return abi.StatusOK
}

// decodeFields copies a serialized map out of guest memory.
func decodeFields(b []byte) (Fields, error) {
	var out Fields
	err := abi.DecodeMap(b, func(p abi.Pair) {
		out = append(out, Field{lowerBytes(p.Key), string(p.Value)})
	})
	return out, err
}

func (v *vm) proxyGetHeaderMapValue(st []uint64) abi.Status {
	key, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	f, s := v.fields(abi.MapType(u32(st, 0)), false)
	if s != abi.StatusOK {
		return s
	}
	for i := range *f {
		if equalFold((*f)[i].Name, key) {
			// key is a view of guest memory: not used after allocating.
			return v.returnString((*f)[i].Value, u32(st, 3), u32(st, 4))
		}
	}
	return abi.StatusNotFound
}

// keyValue reads the (ptr, len) pairs at stack slots at..at+3.
func (v *vm) keyValue(st []uint64, at int) (key, val []byte, ok bool) {
	if key, ok = v.read(u32(st, at), u32(st, at+1)); !ok {
		return nil, nil, false
	}
	if val, ok = v.read(u32(st, at+2), u32(st, at+3)); !ok {
		return nil, nil, false
	}
	return key, val, true
}

func (v *vm) proxyAddHeaderMapValue(st []uint64) abi.Status {
	key, val, ok := v.keyValue(st, 1)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	f, s := v.fields(abi.MapType(u32(st, 0)), true)
	if s != abi.StatusOK {
		return s
	}
	*f = append(*f, Field{v.strs.name(key), v.strs.value(val)})
	return abi.StatusOK
}

func (v *vm) proxyReplaceHeaderMapValue(st []uint64) abi.Status {
	key, val, ok := v.keyValue(st, 1)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	f, s := v.fields(abi.MapType(u32(st, 0)), true)
	if s != abi.StatusOK {
		return s
	}
	value := v.strs.value(val)
	if !replaceField(f, key, value) {
		*f = append(*f, Field{v.strs.name(key), value})
	}
	return abi.StatusOK
}

func (v *vm) proxyRemoveHeaderMapValue(st []uint64) abi.Status {
	key, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	f, s := v.fields(abi.MapType(u32(st, 0)), true)
	if s != abi.StatusOK {
		return s
	}
	delField(f, key)
	return abi.StatusOK
}

// ---- stream control ----

func (v *vm) streamDirection(t abi.StreamType) (direction, abi.Status) {
	switch t {
	case abi.StreamHTTPRequest:
		return dirRequest, abi.StatusOK
	case abi.StreamHTTPResponse:
		return dirResponse, abi.StatusOK
	case abi.StreamDownstream, abi.StreamUpstream:
		v.warnOnce("tcp-stream", "TCP (L4) stream control is not implemented by nicrt; the call answers UNIMPLEMENTED")
		return 0, abi.StatusUnimplemented
	}
	return 0, abi.StatusBadArgument
}

func (v *vm) proxyContinueStream(st []uint64) abi.Status {
	d, s := v.streamDirection(abi.StreamType(u32(st, 0)))
	if s != abi.StatusOK {
		return s
	}
	if v.cur == nil {
		return abi.StatusNotFound
	}
	v.cur.s.resume(d)
	return abi.StatusOK
}

func (v *vm) proxyCloseStream(st []uint64) abi.Status {
	if _, s := v.streamDirection(abi.StreamType(u32(st, 0))); s != abi.StatusOK {
		return s
	}
	if v.cur == nil {
		return abi.StatusNotFound
	}
	s := v.cur.s
	s.mu.Lock()
	s.reset = true
	s.wakeAllLocked()
	s.mu.Unlock()
	return abi.StatusOK
}

func (v *vm) proxySendLocalResponse(st []uint64) abi.Status {
	details, ok1 := v.read(u32(st, 1), u32(st, 2))
	body, ok2 := v.read(u32(st, 3), u32(st, 4))
	hdrs, ok3 := v.read(u32(st, 5), u32(st, 6))
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	code := u32(st, 0)
	if code < 100 || code > 999 {
		return abi.StatusBadArgument
	}
	if v.cur == nil {
		return abi.StatusNotFound
	}
	fields, err := decodeFields(hdrs)
	if err != nil {
		v.warnOnce("proxy_send_local_response", "guest passed malformed local response headers: "+err.Error())
		return abi.StatusBadArgument
	}
	s := v.cur.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs[dirResponse].sent {
		return abi.StatusBadArgument // response headers already went downstream
	}
	s.local = &LocalResponse{
		Status:     int(code),
		Details:    string(details),
		Headers:    fields,
		Body:       append([]byte(nil), body...),
		GRPCStatus: int32(u32(st, 7)),
		Plugin:     v.p.cfg.Name,
	}
	v.p.stats.local.Add(1)
	s.wakeAllLocked()
	return abi.StatusOK
}

func (v *vm) proxyGetStatus(st []uint64) abi.Status {
	if v.callResp == nil {
		return abi.StatusNotFound
	}
	if !v.mem.WriteUint32Le(u32(st, 0), uint32(v.callResp.status)) {
		return abi.StatusInvalidMemoryAccess
	}
	return v.returnString(v.callResp.message, u32(st, 1), u32(st, 2))
}

func grpcUnimplemented(name string) func(*vm, []uint64) abi.Status {
	return func(v *vm, _ []uint64) abi.Status {
		v.warnOnce(name, "gRPC callouts are not implemented by nicrt; the call answers UNIMPLEMENTED")
		return abi.StatusUnimplemented
	}
}

// ---- shared data and queues ----

func (v *vm) proxySetSharedData(st []uint64) abi.Status {
	key, val, ok := v.keyValue(st, 0)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	return v.p.shared.set(key, val, u32(st, 4))
}

func (v *vm) proxyGetSharedData(st []uint64) abi.Status {
	key, ok := v.read(u32(st, 0), u32(st, 1))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.mem.Read(u32(st, 4), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	// The value is copied out under the store's lock into a buffer of this
	// VM's (guarded by v.mu, as every host call is), then into the guest.
	val, cas, found := v.p.shared.get(key, v.sharedBuf)
	if cap(val) <= maxSharedBuf {
		v.sharedBuf = val
	}
	if !found {
		return abi.StatusNotFound
	}
	if s := v.returnBytes(val, u32(st, 2), u32(st, 3)); s != abi.StatusOK {
		return s
	}
	v.mem.WriteUint32Le(u32(st, 4), cas)
	return abi.StatusOK
}

// maxSharedBuf bounds the buffer a VM keeps for shared-data reads; a larger
// value is read through a buffer of its own.
const maxSharedBuf = 4 << 10

func (v *vm) proxyRegisterSharedQueue(st []uint64) abi.Status {
	name, ok := v.read(u32(st, 0), u32(st, 1))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	id := v.p.host.queues.register(v.p, string(name))
	if !v.mem.WriteUint32Le(u32(st, 2), id) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) proxyResolveSharedQueue(st []uint64) abi.Status {
	vmID, ok1 := v.read(u32(st, 0), u32(st, 1))
	name, ok2 := v.read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	id, found := v.p.host.queues.resolve(string(vmID), string(name))
	if !found {
		return abi.StatusNotFound
	}
	if !v.mem.WriteUint32Le(u32(st, 4), id) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func (v *vm) proxyEnqueueSharedQueue(st []uint64) abi.Status {
	val, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	return v.p.host.queues.enqueue(u32(st, 0), val)
}

func (v *vm) proxyDequeueSharedQueue(st []uint64) abi.Status {
	if _, ok := v.mem.Read(u32(st, 1), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.mem.Read(u32(st, 2), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	val, s := v.p.host.queues.dequeue(u32(st, 0))
	if s != abi.StatusOK {
		return s
	}
	return v.returnBytes(val, u32(st, 1), u32(st, 2))
}

// ---- metrics ----

func (v *vm) proxyDefineMetric(st []uint64) abi.Status {
	name, ok := v.read(u32(st, 1), u32(st, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if _, ok := v.mem.Read(u32(st, 3), 4); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	id, s := v.p.host.metrics.define(abi.MetricType(u32(st, 0)), string(name))
	if s != abi.StatusOK {
		return s
	}
	v.mem.WriteUint32Le(u32(st, 3), id)
	return abi.StatusOK
}

func (v *vm) proxyRecordMetric(st []uint64) abi.Status {
	return v.p.host.metrics.record(u32(st, 0), st[1])
}

func (v *vm) proxyIncrementMetric(st []uint64) abi.Status {
	return v.p.host.metrics.increment(u32(st, 0), int64(st[1]))
}

func (v *vm) proxyGetMetric(st []uint64) abi.Status {
	if _, ok := v.mem.Read(u32(st, 1), 8); !ok {
		return abi.StatusInvalidMemoryAccess
	}
	val, s := v.p.host.metrics.get(u32(st, 0))
	if s != abi.StatusOK {
		return s
	}
	v.mem.WriteUint64Le(u32(st, 1), val)
	return abi.StatusOK
}

// ---- foreign functions and contexts ----

func (v *vm) proxyCallForeignFunction(st []uint64) abi.Status {
	name, ok1 := v.read(u32(st, 0), u32(st, 1))
	args, ok2 := v.read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	h := v.p.host
	h.foreignMu.RLock()
	fn := h.foreign[string(name)]
	h.foreignMu.RUnlock()
	if fn == nil {
		return abi.StatusNotFound
	}
	out, err := fn(append([]byte(nil), args...))
	if err != nil {
		h.log.Debug("foreign function failed", "plugin", v.p.cfg.Name, "function", string(name), "err", err)
		return abi.StatusInternalFailure
	}
	return v.returnBytes(out, u32(st, 4), u32(st, 5))
}

func (v *vm) proxyDone(_ []uint64) abi.Status {
	c := v.cur
	if c == nil || !c.pendingDone || c.finished {
		return abi.StatusNotFound
	}
	c.pendingDone = false
	v.doneQueue = append(v.doneQueue, c)
	return abi.StatusOK
}

func (v *vm) proxySetEffectiveContext(st []uint64) abi.Status {
	id := u32(st, 0)
	if id == v.rootID {
		v.cur = nil
		return abi.StatusOK
	}
	c, ok := v.ctxs[id]
	if !ok {
		return abi.StatusBadArgument
	}
	v.cur = c
	return abi.StatusOK
}

// le64 encodes an integer property value as Envoy does: 8 bytes, little-endian.
func le64(x uint64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x)
	return b[:]
}

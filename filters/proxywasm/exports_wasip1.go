//go:build wasip1

package proxywasm

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The callbacks below are what a Proxy-Wasm host calls. They look up the
// context the host names and dispatch to the filter's types interfaces,
// keeping track of the "active" context so DispatchHttpCall knows whom to
// call back.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

type rootState struct {
	ctx     types.PluginContext
	callout map[uint32]callout
}

type callout struct {
	contextID uint32
	fn        func(numHeaders, bodySize, numTrailers int)
}

var (
	vmContext types.VMContext = &types.DefaultVMContext{}
	roots                     = map[uint32]*rootState{}
	https                     = map[uint32]httpState{}
	tcps                      = map[uint32]tcpState{}
	active    uint32          // the context the current callback (or SetEffectiveContext) is for
)

type httpState struct {
	ctx  types.HttpContext
	root uint32
}

type tcpState struct {
	ctx  types.TcpContext
	root uint32
}

// SetVMContext installs the filter's VM context; call it from init.
func SetVMContext(ctx types.VMContext) { vmContext = ctx }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) {
	active = id
	if parent == 0 {
		roots[id] = &rootState{ctx: vmContext.NewPluginContext(id), callout: map[uint32]callout{}}
		return
	}
	r, ok := roots[parent]
	if !ok {
		LogCriticalf("proxy_on_context_create: unknown plugin context %d", parent)
		return
	}
	if hc := r.ctx.NewHttpContext(id); hc != nil {
		https[id] = httpState{hc, parent}
		return
	}
	if tc := r.ctx.NewTcpContext(id); tc != nil {
		tcps[id] = tcpState{tc, parent}
		return
	}
	LogCriticalf("proxy_on_context_create: plugin context %d made neither an HTTP nor a TCP context", parent)
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root, size uint32) uint32 {
	active = root
	return b2u(bool(vmContext.OnVMStart(int(size))))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root, size uint32) uint32 {
	active = root
	r, ok := roots[root]
	if !ok {
		return 0
	}
	return b2u(bool(r.ctx.OnPluginStart(int(size))))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) {
	active = root
	if r, ok := roots[root]; ok {
		r.ctx.OnTick()
	}
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, queue uint32) {
	active = root
	if r, ok := roots[root]; ok {
		r.ctx.OnQueueReady(queue)
	}
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(root, token, numHeaders, bodySize, numTrailers uint32) {
	active = root
	r, ok := roots[root]
	if !ok {
		return
	}
	c, ok := r.callout[token]
	if !ok {
		return
	}
	delete(r.callout, token)
	if c.contextID != root {
		if hostSetEffectiveContext(c.contextID) != 0 {
			return // the context that made the call is gone
		}
		active = c.contextID
	}
	c.fn(int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, n, eos uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpRequestHeaders(int(n), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, size, eos uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpRequestBody(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id, n uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpRequestTrailers(int(n)))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, n, eos uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpResponseHeaders(int(n), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, size, eos uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpResponseBody(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id, n uint32) uint32 {
	active = id
	if h, ok := https[id]; ok {
		return uint32(h.ctx.OnHttpResponseTrailers(int(n)))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_new_connection
func proxyOnNewConnection(id uint32) uint32 {
	active = id
	if t, ok := tcps[id]; ok {
		return uint32(t.ctx.OnNewConnection())
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_downstream_data
func proxyOnDownstreamData(id, size, eos uint32) uint32 {
	active = id
	if t, ok := tcps[id]; ok {
		return uint32(t.ctx.OnDownstreamData(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_downstream_connection_close
func proxyOnDownstreamConnectionClose(id, peer uint32) {
	active = id
	if t, ok := tcps[id]; ok {
		t.ctx.OnDownstreamClose(types.PeerType(peer))
	}
}

//go:wasmexport proxy_on_upstream_data
func proxyOnUpstreamData(id, size, eos uint32) uint32 {
	active = id
	if t, ok := tcps[id]; ok {
		return uint32(t.ctx.OnUpstreamData(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_upstream_connection_close
func proxyOnUpstreamConnectionClose(id, peer uint32) {
	active = id
	if t, ok := tcps[id]; ok {
		t.ctx.OnUpstreamClose(types.PeerType(peer))
	}
}

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {
	active = id
	if h, ok := https[id]; ok {
		h.ctx.OnHttpStreamDone()
	} else if t, ok := tcps[id]; ok {
		t.ctx.OnStreamDone()
	}
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) uint32 {
	active = id
	if r, ok := roots[id]; ok {
		return b2u(r.ctx.OnPluginDone())
	}
	return 1
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	delete(https, id)
	delete(tcps, id)
	delete(roots, id)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

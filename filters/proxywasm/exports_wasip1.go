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
	contexts  idTable[contextEntry]
	active    uint32 // the context the current callback (or SetEffectiveContext) is for
)

type contextKind uint8

const (
	kindRoot contextKind = iota
	kindHTTP
	kindTCP
)

// contextEntry is one context: a plugin (root) context, or a stream context
// with the ID of the plugin context it belongs to.
type contextEntry struct {
	kind contextKind
	root uint32 // kindHTTP and kindTCP
	r    *rootState
	http types.HttpContext
	tcp  types.TcpContext
}

// root returns the plugin context with the given ID, or nil.
func root(id uint32) *rootState {
	if e := contexts.get(id); e != nil && e.kind == kindRoot {
		return e.r
	}
	return nil
}

// httpContext returns the HTTP context with the given ID, or nil.
func httpContext(id uint32) types.HttpContext {
	if e := contexts.get(id); e != nil && e.kind == kindHTTP {
		return e.http
	}
	return nil
}

// tcpContext returns the TCP context with the given ID, or nil.
func tcpContext(id uint32) types.TcpContext {
	if e := contexts.get(id); e != nil && e.kind == kindTCP {
		return e.tcp
	}
	return nil
}

// SetVMContext installs the filter's VM context; call it from init.
func SetVMContext(ctx types.VMContext) { vmContext = ctx }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) {
	active = id
	if parent == 0 {
		contexts.put(id, contextEntry{kind: kindRoot, r: &rootState{ctx: vmContext.NewPluginContext(id), callout: map[uint32]callout{}}})
		return
	}
	r := root(parent)
	if r == nil {
		LogCriticalf("proxy_on_context_create: unknown plugin context %d", parent)
		return
	}
	if hc := r.ctx.NewHttpContext(id); hc != nil {
		contexts.put(id, contextEntry{kind: kindHTTP, root: parent, http: hc})
		return
	}
	if tc := r.ctx.NewTcpContext(id); tc != nil {
		contexts.put(id, contextEntry{kind: kindTCP, root: parent, tcp: tc})
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
func proxyOnConfigure(id, size uint32) uint32 {
	active = id
	r := root(id)
	if r == nil {
		return 0
	}
	return b2u(bool(r.ctx.OnPluginStart(int(size))))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(id uint32) {
	active = id
	if r := root(id); r != nil {
		r.ctx.OnTick()
	}
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(id, queue uint32) {
	active = id
	if r := root(id); r != nil {
		r.ctx.OnQueueReady(queue)
	}
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(id, token, numHeaders, bodySize, numTrailers uint32) {
	active = id
	r := root(id)
	if r == nil {
		return
	}
	c, ok := r.callout[token]
	if !ok {
		return
	}
	delete(r.callout, token)
	if c.contextID != id {
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
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpRequestHeaders(int(n), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, size, eos uint32) uint32 {
	active = id
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpRequestBody(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id, n uint32) uint32 {
	active = id
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpRequestTrailers(int(n)))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, n, eos uint32) uint32 {
	active = id
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpResponseHeaders(int(n), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, size, eos uint32) uint32 {
	active = id
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpResponseBody(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id, n uint32) uint32 {
	active = id
	if h := httpContext(id); h != nil {
		return uint32(h.OnHttpResponseTrailers(int(n)))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_new_connection
func proxyOnNewConnection(id uint32) uint32 {
	active = id
	if t := tcpContext(id); t != nil {
		return uint32(t.OnNewConnection())
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_downstream_data
func proxyOnDownstreamData(id, size, eos uint32) uint32 {
	active = id
	if t := tcpContext(id); t != nil {
		return uint32(t.OnDownstreamData(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_downstream_connection_close
func proxyOnDownstreamConnectionClose(id, peer uint32) {
	active = id
	if t := tcpContext(id); t != nil {
		t.OnDownstreamClose(types.PeerType(peer))
	}
}

//go:wasmexport proxy_on_upstream_data
func proxyOnUpstreamData(id, size, eos uint32) uint32 {
	active = id
	if t := tcpContext(id); t != nil {
		return uint32(t.OnUpstreamData(int(size), eos != 0))
	}
	return uint32(types.ActionContinue)
}

//go:wasmexport proxy_on_upstream_connection_close
func proxyOnUpstreamConnectionClose(id, peer uint32) {
	active = id
	if t := tcpContext(id); t != nil {
		t.OnUpstreamClose(types.PeerType(peer))
	}
}

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {
	active = id
	if e := contexts.get(id); e != nil {
		switch e.kind {
		case kindHTTP:
			e.http.OnHttpStreamDone()
		case kindTCP:
			e.tcp.OnStreamDone()
		}
	}
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) uint32 {
	active = id
	if r := root(id); r != nil {
		return b2u(r.ctx.OnPluginDone())
	}
	return 1
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	contexts.del(id)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// Package wasmengine is the simulated NIC's wasm engine backed by nicrt's
// Proxy-Wasm runtime: the same filters the sidecar runs, driven one framed
// HTTP message at a time, with the executed wasm instructions as the cost
// the timing model charges.
//
// A request and its response share one Proxy-Wasm HTTP context (a
// runtime.Stream), as in Envoy: the stream opens with the request's headers
// and closes after the final response, so proxy_on_log and friends are
// charged to the response that completes the exchange.
package wasmengine

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/runtime"
)

// PauseLimit bounds how long a filter may hold a message paused (a fault
// delay, an HTTP callout) before the stream is reset.
const PauseLimit = 30 * time.Second

// Engine runs the filters of a runtime.Slot for the NIC. It is safe for
// concurrent use; one Engine may serve all of the NIC's engines, the
// runtime pinning each exchange to one VM.
type Engine struct {
	slot    *runtime.Slot
	onPause func(*engine.Message, uint64)

	mu      sync.Mutex
	streams map[exchangeKey]*open
}

type exchangeKey struct {
	flow     flow.Key
	exchange int
}

// open is an exchange whose request passed and whose response is awaited.
type open struct {
	s        *runtime.Stream
	counted  uint64 // instructions already charged to earlier messages
	reqMinor int
	w        *watch
}

// watch tells the engine's OnPause function when a filter pauses the
// message a stream is running (its OnCallback sees the callback return
// ActionPause).
type watch struct {
	e    *Engine
	s    *runtime.Stream
	m    *engine.Message // the message being run
	base uint64          // instructions charged before it
}

const actionPause = 1 // Proxy-Wasm's ActionPause

func (w *watch) callback(ev runtime.CallbackEvent) {
	if ev.Result != actionPause || ev.Err != nil || w.m == nil {
		return
	}
	switch ev.Callback {
	case "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_response_headers", "proxy_on_response_body":
	default:
		return
	}
	if w.s.LocalResponse() != nil {
		return // a local response: the stream does not wait
	}
	w.e.onPause(w.m, w.s.Instructions()-w.base)
}

// OnPause implements engine.Pauser: f hears, before Process blocks, that a
// filter paused the message. Set it before the first Process call.
func (e *Engine) OnPause(f func(m *engine.Message, instructions uint64)) { e.onPause = f }

// New returns an engine running the chain held by slot.
func New(slot *runtime.Slot) *Engine {
	return &Engine{slot: slot, streams: map[exchangeKey]*open{}}
}

var _ engine.Engine = (*Engine)(nil)
var _ engine.FlowCloser = (*Engine)(nil)
var _ engine.Pauser = (*Engine)(nil)

// Process implements engine.Engine.
func (e *Engine) Process(m *engine.Message) (engine.Result, error) {
	if m.Head.Kind == httpframe.Request {
		return e.request(m)
	}
	return e.response(m)
}

func (e *Engine) request(m *engine.Message) (engine.Result, error) {
	if len(e.slot.Chain().Plugins()) == 0 {
		// No filters (yet: an admin API may swap some in): nothing to run,
		// no stream to keep for the response.
		return engine.Result{}, nil
	}
	h := m.Head
	fields := make(runtime.Fields, 0, len(h.Fields)+4)
	fields = append(fields,
		runtime.Field{Name: ":method", Value: string(h.Method)},
		runtime.Field{Name: ":path", Value: string(h.Target)},
		runtime.Field{Name: ":authority", Value: ""},
		runtime.Field{Name: ":scheme", Value: "http"})
	for _, f := range h.Fields {
		name := lowerASCII(f.Name)
		if name == "host" {
			fields[2].Value = string(f.Value)
			continue
		}
		fields = append(fields, runtime.Field{Name: name, Value: string(f.Value)})
	}
	orig := fields.Clone()
	body, err := httpframe.AppendBody(nil, h, m.Raw)
	if err != nil {
		return engine.Result{}, err
	}
	src, dst := endpoints(m.Flow, m.Dir)
	info := runtime.StreamInfo{Source: src, Destination: dst, ConnectionID: connID(m.Flow)}
	var w *watch
	if e.onPause != nil {
		w = &watch{e: e, m: m}
		info.OnCallback = w.callback
	}
	s := e.slot.NewStream(info)
	if w != nil {
		w.s = s
		defer func() { w.m = nil }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), PauseLimit)
	defer cancel()
	v := s.RequestHeaders(ctx, &fields, len(body) == 0)
	out := body
	if v == runtime.Continue && len(body) > 0 {
		out, v = s.RequestBody(ctx, body, true)
	}
	res := engine.Result{Instructions: s.Instructions()}
	switch v {
	case runtime.Continue:
		if changed(orig, fields) || string(out) != string(body) {
			res.Rewrite = appendRequest(nil, fields, h.Minor, out)
		}
		e.mu.Lock()
		e.streams[exchangeKey{m.Flow, m.Exchange}] = &open{s: s, counted: res.Instructions, reqMinor: h.Minor, w: w}
		e.mu.Unlock()
		return res, nil
	case runtime.Respond:
		res.Verdict = engine.Drop
		res.Reply = appendLocal(nil, s.LocalResponse(), h.Minor)
	default:
		res.Verdict = engine.Drop
	}
	res.Instructions = s.Instructions()
	s.Close()
	res.After = s.Instructions() - res.Instructions
	if lr := s.LocalResponse(); lr != nil && lr.Err != nil {
		return res, lr.Err
	}
	return res, nil
}

func (e *Engine) response(m *engine.Message) (engine.Result, error) {
	k := exchangeKey{m.Flow, m.Exchange}
	e.mu.Lock()
	o := e.streams[k]
	if o != nil && m.Final {
		delete(e.streams, k)
	}
	e.mu.Unlock()
	if o == nil {
		// The request was not seen (a capture that starts mid-connection)
		// or was answered locally: nothing to run.
		return engine.Result{}, nil
	}
	h := m.Head
	fields := make(runtime.Fields, 0, len(h.Fields)+1)
	fields = append(fields, runtime.Field{Name: ":status", Value: strconv.Itoa(h.Status)})
	for _, f := range h.Fields {
		fields = append(fields, runtime.Field{Name: lowerASCII(f.Name), Value: string(f.Value)})
	}
	orig := fields.Clone()
	body, err := httpframe.AppendBody(nil, h, m.Raw)
	if err != nil {
		return engine.Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), PauseLimit)
	defer cancel()
	s := o.s
	if o.w != nil {
		o.w.m, o.w.base = m, o.counted
		defer func() { o.w.m = nil }()
	}
	v := s.ResponseHeaders(ctx, &fields, len(body) == 0)
	out := body
	if v == runtime.Continue && len(body) > 0 {
		out, v = s.ResponseBody(ctx, body, true)
	}
	var res engine.Result
	switch v {
	case runtime.Continue:
		if changed(orig, fields) || string(out) != string(body) {
			res.Rewrite = appendResponse(nil, fields, h.Minor, string(h.Reason), out)
		}
	case runtime.Respond:
		// A filter replaced the response: send its local response instead.
		res.Rewrite = appendLocal(nil, s.LocalResponse(), o.reqMinor)
	default:
		res.Verdict = engine.Drop
	}
	res.Instructions = s.Instructions() - o.counted
	if m.Final {
		// log, done and delete run after the response has gone (Envoy's
		// order): charged to the engine, not to the response's transit.
		s.Close()
		res.After = s.Instructions() - o.counted - res.Instructions
	}
	o.counted = s.Instructions()
	if lr := s.LocalResponse(); v == runtime.Respond && lr != nil && lr.Err != nil {
		return res, lr.Err
	}
	return res, nil
}

// FlowClosed implements engine.FlowCloser: exchanges of a closed
// connection that never got their response are ended.
func (e *Engine) FlowClosed(k flow.Key) {
	var orphans []*open
	e.mu.Lock()
	for ek, o := range e.streams {
		if ek.flow == k {
			orphans = append(orphans, o)
			delete(e.streams, ek)
		}
	}
	e.mu.Unlock()
	for _, o := range orphans {
		o.s.Close()
	}
}

// Close ends every open exchange (at the end of a replay).
func (e *Engine) Close() {
	e.mu.Lock()
	all := e.streams
	e.streams = map[exchangeKey]*open{}
	e.mu.Unlock()
	for _, o := range all {
		o.s.Close()
	}
}

func endpoints(k flow.Key, d flow.Dir) (src, dst netip.AddrPort) {
	a := netip.AddrPortFrom(netip.AddrFrom4(k.A), k.APort)
	b := netip.AddrPortFrom(netip.AddrFrom4(k.B), k.BPort)
	if d == flow.AtoB {
		return a, b
	}
	return b, a
}

// connID derives a stable connection id from the flow, so replays are
// deterministic (filters may log or hash it).
func connID(k flow.Key) uint64 {
	h := fnv.New64a()
	var b [18]byte
	copy(b[0:4], k.A[:])
	copy(b[4:8], k.B[:])
	binary.BigEndian.PutUint16(b[8:], k.APort)
	binary.BigEndian.PutUint16(b[10:], k.BPort)
	binary.BigEndian.PutUint32(b[12:], k.Epoch)
	h.Write(b[:16])
	return h.Sum64()
}

func changed(a, b runtime.Fields) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

func lowerASCII(b []byte) string {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			out := []byte(string(b))
			for i, c := range out {
				if 'A' <= c && c <= 'Z' {
					out[i] = c + 'a' - 'A'
				}
			}
			return string(out)
		}
	}
	return string(b)
}

// resumers are the host functions through which a filter can resume a
// message it paused (continue it, or answer it locally later): directly,
// or from a timer, a callout or a queue callback.
var resumers = map[string]bool{
	"proxy_continue_stream":              true,
	"proxy_resume_http_request":          true,
	"proxy_resume_http_response":         true,
	"proxy_set_tick_period_milliseconds": true,
	"proxy_http_call":                    true,
	"proxy_dispatch_http_call":           true,
	"proxy_grpc_call":                    true,
	"proxy_grpc_stream":                  true,
	"proxy_register_shared_queue":        true,
}

// MayPause reports whether a module (as runtime.Host.Inspect describes it)
// can hold a message paused and resume it later — a fault delay, an HTTP
// callout — judging by its imports: without one of the host functions that
// resume a stream, a pause could only end at the deadline. The Go
// toolchain imports only the host functions a filter uses, so lb or route
// filters say no and the fault filter says yes. A live NIC uses it to
// decide whether to run filters where a pause holds only its message
// (engine.Pauser, which costs a goroutine hand-off per message).
func MayPause(r *runtime.Report) bool {
	for _, im := range r.Imports {
		if im.Module == "env" && resumers[im.Name] {
			return true
		}
	}
	return false
}

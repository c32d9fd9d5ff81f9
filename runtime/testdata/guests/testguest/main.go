// Command testguest is a Proxy-Wasm filter that exercises every host
// function nicrt provides. The request header "x-test" picks the case; most
// cases answer with a local response whose body lists what the guest saw, one
// "key=value" per line, so the host tests can check each call's result.
package main

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmCtx{}) }

// Raw imports for host functions the SDK-shaped API does not expose.

//go:wasmimport env proxy_get_status
func rawGetStatus(code, msgPtr, msgSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_buffer_status
func rawGetBufferStatus(bt uint32, size, flags unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_size
func rawGetHeaderMapSize(mt uint32, size unsafe.Pointer) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func rawGetCurrentTime(ret unsafe.Pointer) uint32

//go:wasmimport env proxy_get_log_level
func rawGetLogLevel(ret unsafe.Pointer) uint32

//go:wasmimport env proxy_grpc_call
func rawGRPCCall(a, b, c, d, e, f, g, h, i, j, k uint32, ret unsafe.Pointer) uint32

//go:wasmimport env proxy_grpc_stream
func rawGRPCStream(a, b, c, d, e, f, g, h uint32, ret unsafe.Pointer) uint32

//go:wasmimport env proxy_grpc_send
func rawGRPCSend(a, b, c, d uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func rawGRPCCancel(a uint32) uint32

//go:wasmimport env proxy_grpc_close
func rawGRPCClose(a uint32) uint32

//go:wasmimport env proxy_close_stream
func rawCloseStream(st uint32) uint32

//go:wasmimport env proxy_continue_stream
func rawContinueStream(st uint32) uint32

//go:wasmimport env proxy_done
func rawDone() uint32

//go:wasmimport env proxy_increment_metric
func rawIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_set_effective_context
func rawSetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_log
func rawLog(level uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func rawGetHeaderMapValue(mt uint32, k unsafe.Pointer, kn uint32, retP, retN unsafe.Pointer) uint32

type vmCtx struct{ types.DefaultVMContext }

func (*vmCtx) OnVMStart(size int) types.OnVMStartStatus {
	cfg, _ := proxywasm.GetVMConfiguration()
	if string(cfg) == "fail" {
		proxywasm.LogError("vm configuration says fail")
		return types.OnVMStartStatusFailed
	}
	return types.OnVMStartStatusOK
}

func (*vmCtx) NewPluginContext(id uint32) types.PluginContext {
	return &plugin{paused: map[uint32]bool{}}
}

type plugin struct {
	types.DefaultPluginContext
	bench     bool
	callKind  string // "get" or "replace": host-call cost benchmark
	calls     int
	paused    map[uint32]bool
	doneCount proxywasm.MetricCounter
	queueRdy  proxywasm.MetricCounter
	ticks     proxywasm.MetricCounter
}

func (p *plugin) OnPluginStart(size int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && size > 0 {
		proxywasm.LogErrorf("reading configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.doneCount = proxywasm.DefineCounterMetric("tg_streams_done")
	p.queueRdy = proxywasm.DefineCounterMetric("tg_queue_ready")
	p.ticks = proxywasm.DefineCounterMetric("tg_ticks")
	for _, kv := range strings.Split(string(cfg), ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "":
		case "reject":
			proxywasm.LogErrorf("configuration field %q is not supported", "reject")
			return types.OnPluginStartStatusFailed
		case "tick":
			ms, _ := strconv.Atoi(v)
			if err := proxywasm.SetTickPeriodMilliSeconds(uint32(ms)); err != nil {
				return types.OnPluginStartStatusFailed
			}
		case "bench":
			p.bench = true
		case "calls":
			// calls=get:100 or calls=replace:100
			kind, n, _ := strings.Cut(v, ":")
			p.callKind = kind
			p.calls, _ = strconv.Atoi(n)
		case "startpanic":
			panic("panic during OnPluginStart")
		default:
			proxywasm.LogErrorf("unknown configuration field %q", k)
			return types.OnPluginStartStatusFailed
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) OnTick() {
	p.ticks.Increment(1)
	for id := range p.paused {
		delete(p.paused, id)
		if err := proxywasm.SetEffectiveContext(id); err != nil {
			continue
		}
		proxywasm.AddHttpRequestHeader("x-resumed-by", "tick")
		proxywasm.ResumeHttpRequest()
	}
}

func (p *plugin) OnQueueReady(id uint32) {
	if _, err := proxywasm.DequeueSharedQueue(id); err == nil {
		p.queueRdy.Increment(1)
	}
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	return &stream{id: id, p: p}
}

type stream struct {
	types.DefaultHttpContext
	id   uint32
	p    *plugin
	test string
}

// report answers locally with "key=value" lines.
type report struct{ b strings.Builder }

func (r *report) add(k string, v any) {
	r.b.WriteString(k)
	r.b.WriteByte('=')
	switch x := v.(type) {
	case nil:
		r.b.WriteString("ok")
	case string:
		r.b.WriteString(x)
	case []byte:
		r.b.Write(x)
	case error:
		if x == nil {
			r.b.WriteString("ok")
		} else {
			r.b.WriteString(x.Error())
		}
	case int:
		r.b.WriteString(strconv.Itoa(x))
	case uint32:
		r.b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint64:
		r.b.WriteString(strconv.FormatUint(x, 10))
	case int64:
		r.b.WriteString(strconv.FormatInt(x, 10))
	}
	r.b.WriteByte('\n')
}

func (r *report) send(status uint32) types.Action {
	if err := proxywasm.SendHttpResponse(status, [][2]string{{"content-type", "text/plain"}, {"x-report", "1"}}, []byte(r.b.String()), -1); err != nil {
		proxywasm.LogErrorf("send report: %v", err)
	}
	return types.ActionPause
}

func status(s uint32) string { return strconv.Itoa(int(s)) }

func (s *stream) OnHttpRequestHeaders(n int, eos bool) types.Action {
	if s.p.bench {
		proxywasm.ReplaceHttpRequestHeader("x-bench", "1")
		return types.ActionContinue
	}
	switch s.p.callKind {
	case "get":
		for i := 0; i < s.p.calls; i++ {
			proxywasm.GetHttpRequestHeader("x-bench")
		}
		return types.ActionContinue
	case "replace":
		for i := 0; i < s.p.calls; i++ {
			proxywasm.ReplaceHttpRequestHeader("x-bench", "1")
		}
		return types.ActionContinue
	case "alloc": // the cost of one small Go allocation, for comparison
		for i := 0; i < s.p.calls; i++ {
			sink = make([]byte, 1+i%2)
		}
		return types.ActionContinue
	}
	s.test, _ = proxywasm.GetHttpRequestHeader("x-test")
	var r report
	switch s.test {
	case "headers":
		in, _ := proxywasm.GetHttpRequestHeader("X-In") // case-insensitive lookup
		proxywasm.AddHttpRequestHeader("X-Added", "a")  // name is lowercased
		proxywasm.ReplaceHttpRequestHeader("x-replaced", "new:"+in)
		proxywasm.RemoveHttpRequestHeader("x-removed")
		all, _ := proxywasm.GetHttpRequestHeaders()
		proxywasm.AddHttpRequestHeader("x-count", strconv.Itoa(len(all)))
		proxywasm.AddHttpRequestHeader("x-num-arg", strconv.Itoa(n))
		var size uint32
		proxywasm.AddHttpRequestHeader("x-size-status", status(rawGetHeaderMapSize(0, unsafe.Pointer(&size))))
		proxywasm.AddHttpRequestHeader("x-size", strconv.Itoa(int(size)))
		_, err := proxywasm.GetHttpRequestHeader("x-absent")
		r.add("absent", err)
		proxywasm.AddHttpRequestHeader("x-absent-err", r.b.String())
		_, err = proxywasm.GetHttpResponseHeaders()
		proxywasm.AddHttpRequestHeader("x-resp-before", errString(err))
		return types.ActionContinue
	case "pairs":
		all, _ := proxywasm.GetHttpRequestHeaders()
		var out [][2]string
		for _, kv := range all {
			if kv[0] != "x-drop" {
				out = append(out, kv)
			}
		}
		out = append(out, [2]string{"x-pairs", "1"})
		if err := proxywasm.ReplaceHttpRequestHeaders(out); err != nil {
			proxywasm.LogErrorf("replace pairs: %v", err)
		}
		return types.ActionContinue
	case "local":
		proxywasm.SendHttpResponse(418, [][2]string{{"x-local", "1"}}, []byte("teapot"), -1)
		return types.ActionPause
	case "local-continue":
		proxywasm.SendHttpResponse(403, nil, []byte("denied"), -1)
		return types.ActionContinue
	case "props":
		return s.props(&r)
	case "shared":
		r.add("set1", proxywasm.SetSharedData("k", []byte("v1"), 0))
		_, cas, err := proxywasm.GetSharedData("k")
		r.add("get1", err)
		r.add("set2", proxywasm.SetSharedData("k", []byte("v2"), cas))
		r.add("set3-stale", proxywasm.SetSharedData("k", []byte("v3"), cas))
		v, cas2, _ := proxywasm.GetSharedData("k")
		r.add("value", v)
		r.add("cas-advanced", boolStr(cas2 != cas))
		_, _, err = proxywasm.GetSharedData("missing")
		r.add("missing", err)
		return r.send(200)
	case "shared-op":
		// One operation on shared data, so a test can interleave VMs:
		// x-op get|set, x-key, x-value, x-cas.
		key, _ := proxywasm.GetHttpRequestHeader("x-key")
		op, _ := proxywasm.GetHttpRequestHeader("x-op")
		if op == "set" {
			val, _ := proxywasm.GetHttpRequestHeader("x-value")
			c, _ := proxywasm.GetHttpRequestHeader("x-cas")
			cas, _ := strconv.ParseUint(c, 10, 32)
			r.add("set", proxywasm.SetSharedData(key, []byte(val), uint32(cas)))
			return r.send(200)
		}
		v, cas, err := proxywasm.GetSharedData(key)
		r.add("get", err)
		r.add("value", v)
		r.add("cas", cas)
		return r.send(200)
	case "wasi":
		// What WASI gives a Go guest: clocks, sleep, randomness, stdout,
		// no filesystem, no arguments or environment.
		t0 := time.Now()
		r.add("wall", t0.UnixNano())
		time.Sleep(50 * time.Millisecond) // poll_oneoff
		r.add("slept-ns", int64(time.Since(t0)))
		var rb [16]byte
		_, err := crand.Read(rb[:])
		r.add("random-err", err)
		r.add("random", hex.EncodeToString(rb[:]))
		os.Stdout.WriteString("tg-stdout-line\n")
		_, err = os.ReadFile("/etc/passwd")
		r.add("fs", boolStr(err != nil))
		r.add("args", len(os.Args))
		r.add("env", len(os.Environ()))
		return r.send(200)
	case "queue":
		id, err := proxywasm.RegisterSharedQueue("q")
		r.add("register", err)
		vmid, _ := proxywasm.GetProperty([]string{"plugin_vm_id"})
		rid, err := proxywasm.ResolveSharedQueue(string(vmid), "q")
		r.add("resolve", err)
		r.add("same-id", boolStr(rid == id))
		_, err = proxywasm.ResolveSharedQueue(string(vmid), "nope")
		r.add("resolve-missing", err)
		r.add("enqueue", proxywasm.EnqueueSharedQueue(id, []byte("item")))
		// on_queue_ready may dequeue concurrently from another call; only
		// the unknown-queue and empty checks are deterministic here.
		r.add("enqueue-missing", proxywasm.EnqueueSharedQueue(99999, []byte("x")))
		_, err = proxywasm.DequeueSharedQueue(99999)
		r.add("dequeue-missing", err)
		return r.send(200)
	case "queue-drain":
		id, _ := proxywasm.RegisterSharedQueue("q2")
		proxywasm.EnqueueSharedQueue(id, []byte("one"))
		v, err := proxywasm.DequeueSharedQueue(id)
		r.add("dequeue", err)
		r.add("item", v)
		_, err = proxywasm.DequeueSharedQueue(id)
		r.add("dequeue-empty", err)
		return r.send(200)
	case "metrics":
		c := proxywasm.DefineCounterMetric("tg_counter")
		c.Increment(3)
		g := proxywasm.DefineGaugeMetric("tg_gauge")
		g.Add(5)
		g.Add(-2)
		h := proxywasm.DefineHistogramMetric("tg_hist")
		h.Record(42)
		c2 := proxywasm.DefineCounterMetric("tg_counter")
		r.add("same-id", boolStr(c == c2))
		r.add("counter", c.Value())
		r.add("gauge", g.Value())
		r.add("negative-counter", status(rawIncrementMetric(uint32(c), -1)))
		proxywasm.DefineCounterMetric(`tg_labeled{cluster="a"}`).Increment(1)
		return r.send(200)
	case "foreign":
		out, err := proxywasm.CallForeignFunction("echo", []byte("abc"))
		r.add("echo", err)
		r.add("echo-out", out)
		_, err = proxywasm.CallForeignFunction("nope", nil)
		r.add("unknown", err)
		return r.send(200)
	case "httpcall", "httpcall-local":
		cluster, _ := proxywasm.GetHttpRequestHeader("x-cluster")
		timeout := uint32(2000)
		if t, err := proxywasm.GetHttpRequestHeader("x-timeout"); err == nil {
			ms, _ := strconv.Atoi(t)
			timeout = uint32(ms)
		}
		_, err := proxywasm.DispatchHttpCall(cluster, [][2]string{{":method", "GET"}, {":path", "/callout"}, {":authority", "callout.test"}, {"x-from", "guest"}}, nil, nil, timeout, s.onCallout)
		if err != nil {
			r.add("dispatch", err)
			return r.send(200)
		}
		return types.ActionPause
	case "tick-pause":
		s.p.paused[s.id] = true
		return types.ActionPause
	case "pause-forever":
		return types.ActionPause
	case "close":
		proxywasm.AddHttpRequestHeader("x-close-status", status(rawCloseStream(0)))
		return types.ActionPause
	case "panic":
		panic("testguest: panic on request")
	case "oob":
		p := (*uint64)(unsafe.Pointer(uintptr(0xfffffff0)))
		*p = 1
		return types.ActionContinue
	case "loop":
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
		return types.ActionContinue
	case "oom":
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 1<<20))
			keep[len(keep)-1][0] = 1
		}
	case "log":
		proxywasm.LogTrace("tg-trace")
		proxywasm.LogDebug("tg-debug")
		proxywasm.LogInfo("tg-info")
		proxywasm.LogWarn("tg-warn")
		proxywasm.LogError("tg-error")
		proxywasm.LogCritical("tg-critical")
		proxywasm.LogInfof("tg-infof %d", 7)
		println("tg-stderr-line") // Go's println writes to stderr (fd 2)
		var lvl uint32
		r.add("log-level-status", status(rawGetLogLevel(unsafe.Pointer(&lvl))))
		r.add("log-level", lvl)
		msg := "bad level"
		r.add("bad-level", status(rawLog(9, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))))
		r.add("bad-pointer", status(rawLog(2, unsafe.Pointer(uintptr(0xfffffff0)), 100)))
		return r.send(200)
	case "misc":
		var now uint64
		r.add("time-status", status(rawGetCurrentTime(unsafe.Pointer(&now))))
		r.add("time-nonzero", boolStr(now > 0))
		var tok uint32
		r.add("grpc-call", status(rawGRPCCall(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, unsafe.Pointer(&tok))))
		r.add("grpc-stream", status(rawGRPCStream(0, 0, 0, 0, 0, 0, 0, 0, unsafe.Pointer(&tok))))
		r.add("grpc-send", status(rawGRPCSend(0, 0, 0, 0)))
		r.add("grpc-cancel", status(rawGRPCCancel(0)))
		r.add("grpc-close", status(rawGRPCClose(0)))
		r.add("done-not-pending", status(rawDone()))
		r.add("effective-bogus", status(rawSetEffectiveContext(424242)))
		r.add("continue-downstream", status(rawContinueStream(2)))
		r.add("continue-bogus", status(rawContinueStream(77)))
		var code uint32
		var mp unsafe.Pointer
		var mn uint32
		r.add("status-outside-callout", status(rawGetStatus(unsafe.Pointer(&code), unsafe.Pointer(&mp), unsafe.Pointer(&mn))))
		vmc, err := proxywasm.GetVMConfiguration()
		r.add("vm-config", err)
		r.add("vm-config-value", vmc)
		pc, _ := proxywasm.GetPluginConfiguration()
		r.add("plugin-config", pc)
		_, err = proxywasm.GetHttpRequestBody(0, 10)
		r.add("body-in-headers", err)
		r.add("tick-set", proxywasm.SetTickPeriodMilliSeconds(0))
		var size uint32
		r.add("buffer-status-bad", status(rawGetBufferStatus(99, unsafe.Pointer(&size), unsafe.Pointer(&size))))
		r.add("map-bad", status(rawGetHeaderMapSize(99, unsafe.Pointer(&size))))
		key := "x-test"
		r.add("bad-ret-pointer", status(rawGetHeaderMapValue(0, unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(uintptr(0xfffffff8)), unsafe.Pointer(&size))))
		_, err = proxywasm.GetDownstreamData(0, 1)
		r.add("downstream-data", err)
		r.add("set-header-after", boolStr(false))
		return r.send(200)
	}
	return types.ActionContinue
}

func (s *stream) props(r *report) types.Action {
	str := func(path ...string) {
		v, err := proxywasm.GetProperty(path)
		if err != nil {
			r.add(strings.Join(path, "."), err)
			return
		}
		r.add(strings.Join(path, "."), v)
	}
	num := func(path ...string) {
		v, err := proxywasm.GetProperty(path)
		if err != nil || len(v) != 8 {
			r.add(strings.Join(path, "."), "bad:"+errString(err)+":"+strconv.Itoa(len(v)))
			return
		}
		r.add(strings.Join(path, "."), int64(binary.LittleEndian.Uint64(v)))
	}
	for _, p := range []string{"path", "url_path", "host", "scheme", "method", "id", "protocol"} {
		str("request", p)
	}
	num("request", "time")
	hs, err := proxywasm.GetPropertyMap([]string{"request", "headers"})
	r.add("request.headers.count", len(hs))
	r.add("request.headers.err", err)
	str("request", "headers", "x-in")
	str("source", "address")
	num("source", "port")
	str("destination", "address")
	num("destination", "port")
	num("connection", "id")
	str("upstream", "address")
	str("plugin_name")
	str("plugin_root_id")
	str("plugin_vm_id")
	str("node", "id")
	str("node", "metadata", "region")
	str("nicrt", "position")
	str("no", "such", "thing")
	r.add("set-mine", proxywasm.SetProperty([]string{"mine", "key"}, []byte("val")))
	str("mine", "key")
	r.add("set-reserved", proxywasm.SetProperty([]string{"request", "path"}, []byte("/evil")))
	str("response", "code")
	return r.send(200)
}

func (s *stream) onCallout(numHeaders, bodySize, numTrailers int) {
	hs, _ := proxywasm.GetHttpCallResponseHeaders()
	body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
	var code uint32
	var mp unsafe.Pointer
	var mn uint32
	st := rawGetStatus(unsafe.Pointer(&code), unsafe.Pointer(&mp), unsafe.Pointer(&mn))
	if s.test == "httpcall-local" {
		var r report
		r.add("headers", numHeaders)
		r.add("body", body)
		r.add("get-status", status(st))
		r.add("code", code)
		if mp != nil && mn > 0 {
			r.add("message", unsafe.String((*byte)(mp), mn))
		}
		for _, kv := range hs {
			if kv[0] == "x-callout" {
				r.add("x-callout", kv[1])
			}
		}
		r.send(200)
		return
	}
	proxywasm.AddHttpRequestHeader("x-call-status", strconv.Itoa(int(code)))
	proxywasm.AddHttpRequestHeader("x-call-body", string(body))
	proxywasm.ResumeHttpRequest()
}

func (s *stream) OnHttpRequestBody(size int, eos bool) types.Action {
	if s.test != "body" {
		return types.ActionContinue
	}
	if !eos {
		return types.ActionPause // buffer until the whole body is here
	}
	var n, flags uint32
	rawGetBufferStatus(0, unsafe.Pointer(&n), unsafe.Pointer(&flags))
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil || int(n) != size {
		proxywasm.LogErrorf("body: %v, status size %d vs %d", err, n, size)
		return types.ActionContinue
	}
	proxywasm.ReplaceHttpRequestBody([]byte(strings.ToUpper(string(b))))
	return types.ActionContinue
}

func (s *stream) OnHttpRequestTrailers(n int) types.Action {
	if s.test != "trailers" {
		return types.ActionContinue
	}
	proxywasm.AddHttpRequestTrailer("x-t-added", strconv.Itoa(n))
	v, _ := proxywasm.GetHttpRequestTrailer("x-t-in")
	proxywasm.ReplaceHttpRequestTrailer("x-t-replaced", "new:"+v)
	proxywasm.RemoveHttpRequestTrailer("x-t-removed")
	all, _ := proxywasm.GetHttpRequestTrailers()
	proxywasm.AddHttpRequestTrailer("x-t-count", strconv.Itoa(len(all)))
	return types.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(n int, eos bool) types.Action {
	switch s.test {
	case "headers":
		st, _ := proxywasm.GetHttpResponseHeader(":status")
		proxywasm.AddHttpResponseHeader("x-resp-status-seen", st)
		proxywasm.ReplaceHttpResponseHeader("x-resp-replaced", "r")
		proxywasm.RemoveHttpResponseHeader("x-resp-removed")
		all, _ := proxywasm.GetHttpResponseHeaders()
		proxywasm.AddHttpResponseHeader("x-resp-count", strconv.Itoa(len(all)))
		err := proxywasm.AddHttpRequestHeader("x-late", "1")
		proxywasm.AddHttpResponseHeader("x-req-write-in-resp", errString(err))
	case "pairs":
		proxywasm.ReplaceHttpResponseHeaders([][2]string{{":status", "201"}, {"x-only", "1"}})
	case "local-response-phase":
		proxywasm.SendHttpResponse(502, nil, []byte("replaced"), -1)
		return types.ActionPause
	case "props":
	}
	if s.test == "resp-props" {
		v, err := proxywasm.GetProperty([]string{"response", "code"})
		if err == nil && len(v) == 8 {
			proxywasm.AddHttpResponseHeader("x-response-code", strconv.Itoa(int(binary.LittleEndian.Uint64(v))))
		}
		up, err := proxywasm.GetProperty([]string{"upstream", "address"})
		proxywasm.AddHttpResponseHeader("x-upstream", string(up)+errString(err))
		d, _ := proxywasm.GetProperty([]string{"response", "code_details"})
		proxywasm.AddHttpResponseHeader("x-details", string(d))
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseBody(size int, eos bool) types.Action {
	if s.test != "body" {
		return types.ActionContinue
	}
	if eos {
		proxywasm.AppendHttpResponseBody([]byte("+tail"))
		proxywasm.PrependHttpResponseBody([]byte("head+"))
	}
	return types.ActionContinue
}

func (s *stream) OnHttpResponseTrailers(n int) types.Action {
	if s.test != "trailers" {
		return types.ActionContinue
	}
	proxywasm.AddHttpResponseTrailer("x-rt-added", "1")
	proxywasm.ReplaceHttpResponseTrailer("x-rt-replaced", "r")
	proxywasm.RemoveHttpResponseTrailer("x-rt-removed")
	v, _ := proxywasm.GetHttpResponseTrailer("x-rt-in")
	all, _ := proxywasm.GetHttpResponseTrailers()
	proxywasm.ReplaceHttpResponseTrailers(append(all, [2]string{"x-rt-pairs", "1"}))
	proxywasm.AddHttpResponseTrailer("x-rt-seen", v+"/"+strconv.Itoa(len(all)))
	return types.ActionContinue
}

func (s *stream) OnHttpStreamDone() {
	s.p.doneCount.Increment(1)
	if s.test == "resp-props" {
		// proxy_on_log sees the whole response, as an access log does.
		if v, err := proxywasm.GetProperty([]string{"response", "size"}); err == nil && len(v) == 8 {
			proxywasm.DefineGaugeMetric("tg_resp_size").Add(int64(binary.LittleEndian.Uint64(v)))
		}
		if hs, err := proxywasm.GetPropertyMap([]string{"response", "headers"}); err == nil {
			proxywasm.DefineGaugeMetric("tg_resp_headers").Add(int64(len(hs)))
		}
	}
}

var sink []byte

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

package icount

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The C guest (runtime/testdata/cfilter) is exercised here in two ways: its
// interface as wazero sees it (what nicrt's runtime will load), and its
// behaviour through the five host functions it imports, implemented below
// from the ABI v0.2.1 spec. nicrt's runtime drives it end to end elsewhere;
// this host exists so that the guest and its instrumented copy can be run and
// compared here.

const (
	i32 = api.ValueTypeI32
)

// cfilterExports are the callbacks filter.c exports, with their ABI v0.2.1
// signatures (params, results).
var cfilterExports = map[string][2][]api.ValueType{
	"_initialize":               {nil, nil},
	"proxy_abi_version_0_2_1":   {nil, nil},
	"proxy_on_memory_allocate":  {{i32}, {i32}},
	"proxy_on_context_create":   {{i32, i32}, nil},
	"proxy_on_vm_start":         {{i32, i32}, {i32}},
	"proxy_on_configure":        {{i32, i32}, {i32}},
	"proxy_on_request_headers":  {{i32, i32, i32}, {i32}},
	"proxy_on_response_headers": {{i32, i32, i32}, {i32}},
	"proxy_on_log":              {{i32}, nil},
	"proxy_on_done":             {{i32}, {i32}},
	"proxy_on_delete":           {{i32}, nil},
	"cfilter_loop":              {{i32}, {i32}},
	"cfilter_streams":           {nil, {i32}},
}

// cfilterImports are the host functions filter.c imports from "env", with
// their ABI v0.2.1 signatures. It needs nothing from WASI.
var cfilterImports = map[string][2][]api.ValueType{
	"proxy_log":                  {{i32, i32, i32}, {i32}},
	"proxy_get_buffer_bytes":     {{i32, i32, i32, i32, i32}, {i32}},
	"proxy_get_header_map_value": {{i32, i32, i32, i32, i32}, {i32}},
	"proxy_add_header_map_value": {{i32, i32, i32, i32, i32}, {i32}},
	"proxy_send_local_response":  {{i32, i32, i32, i32, i32, i32, i32, i32}, {i32}},
}

func TestCFilterInterface(t *testing.T) {
	wasm := buildCFilter(t)
	ctx := context.Background()
	for _, bin := range []struct {
		name string
		wasm []byte
	}{{"original", wasm}, {"instrumented", mustInstrument(t, wasm)}} {
		t.Run(bin.name, func(t *testing.T) {
			cm, err := newRuntime(t, nil).CompileModule(ctx, bin.wasm)
			if err != nil {
				t.Fatalf("wazero rejects the C guest: %v", err)
			}
			exports := cm.ExportedFunctions()
			for name, sig := range cfilterExports {
				f, ok := exports[name]
				if !ok {
					t.Errorf("missing export %s", name)
					continue
				}
				if !slices.Equal(f.ParamTypes(), sig[0]) || !slices.Equal(f.ResultTypes(), sig[1]) {
					t.Errorf("export %s has signature %v -> %v, want %v -> %v",
						name, f.ParamTypes(), f.ResultTypes(), sig[0], sig[1])
				}
			}
			if len(exports) != len(cfilterExports) {
				t.Errorf("%d exported functions, want %d", len(exports), len(cfilterExports))
			}
			if _, ok := cm.ExportedMemories()["memory"]; !ok {
				t.Error("memory is not exported")
			}
			imports := cm.ImportedFunctions()
			if len(imports) != len(cfilterImports) {
				t.Errorf("%d imported functions, want %d", len(imports), len(cfilterImports))
			}
			for _, f := range imports {
				mod, name, _ := f.Import()
				sig, ok := cfilterImports[name]
				if mod != "env" || !ok {
					t.Errorf("unexpected import %s.%s", mod, name)
					continue
				}
				if !slices.Equal(f.ParamTypes(), sig[0]) || !slices.Equal(f.ResultTypes(), sig[1]) {
					t.Errorf("import %s has signature %v -> %v, want %v -> %v",
						name, f.ParamTypes(), f.ResultTypes(), sig[0], sig[1])
				}
			}
		})
	}
}

// ABI constants used by the test host.
const (
	statusOK        = 0
	statusNotFound  = 1
	statusBadArg    = 2
	statusBadMemory = 6

	bufferPluginConfiguration = 7
	mapRequestHeaders         = 0
	mapResponseHeaders        = 2
)

// testHost implements, from the spec, the host functions the C guest
// imports, and records what the guest did through them.
type testHost struct {
	config   []byte
	request  [][2]string // request headers, pseudo-headers included
	response [][2]string
	logs     []string // "level: message"
	local    string   // the local response, if any, rendered
	quiet    bool     // do not record logs (benchmarks)
}

func (h *testHost) headers(m uint32) *[][2]string {
	switch m {
	case mapRequestHeaders:
		return &h.request
	case mapResponseHeaders:
		return &h.response
	}
	return nil
}

// read returns guest memory [p, p+n) or nil when out of range.
func read(m api.Module, p, n uint32) []byte {
	b, ok := m.Memory().Read(p, n)
	if !ok {
		return nil
	}
	return b
}

// give copies data into memory the guest allocates with
// proxy_on_memory_allocate and stores its address and size at retPtr and
// retSize: the guest owns and frees it.
func give(ctx context.Context, m api.Module, data []byte, retPtr, retSize uint32) uint32 {
	res, err := m.ExportedFunction("proxy_on_memory_allocate").Call(ctx, uint64(len(data)))
	if err != nil || res[0] == 0 {
		panic(fmt.Sprintf("proxy_on_memory_allocate(%d) failed: %v", len(data), err))
	}
	p := uint32(res[0])
	mem := m.Memory()
	if !mem.Write(p, data) || !mem.WriteUint32Le(retPtr, p) || !mem.WriteUint32Le(retSize, uint32(len(data))) {
		return statusBadMemory
	}
	return statusOK
}

func (h *testHost) instantiate(t testing.TB, r wazero.Runtime) {
	t.Helper()
	ctx := context.Background()
	fn := func(b wazero.HostModuleBuilder, name string, f api.GoModuleFunc) wazero.HostModuleBuilder {
		sig := cfilterImports[name]
		return b.NewFunctionBuilder().WithGoModuleFunction(f, sig[0], sig[1]).Export(name)
	}
	b := r.NewHostModuleBuilder("env")
	b = fn(b, "proxy_log", func(ctx context.Context, m api.Module, s []uint64) {
		msg := read(m, uint32(s[1]), uint32(s[2]))
		if msg == nil {
			s[0] = statusBadMemory
			return
		}
		if !h.quiet {
			h.logs = append(h.logs, fmt.Sprintf("%d: %s", uint32(s[0]), msg))
		}
		s[0] = statusOK
	})
	b = fn(b, "proxy_get_buffer_bytes", func(ctx context.Context, m api.Module, s []uint64) {
		if uint32(s[0]) != bufferPluginConfiguration {
			s[0] = statusNotFound
			return
		}
		start, size := uint64(uint32(s[1])), uint64(uint32(s[2]))
		if start > uint64(len(h.config)) {
			s[0] = statusBadArg
			return
		}
		end := min(start+size, uint64(len(h.config)))
		s[0] = uint64(give(ctx, m, h.config[start:end], uint32(s[3]), uint32(s[4])))
	})
	b = fn(b, "proxy_get_header_map_value", func(ctx context.Context, m api.Module, s []uint64) {
		hs, key := h.headers(uint32(s[0])), read(m, uint32(s[1]), uint32(s[2]))
		if hs == nil || key == nil {
			s[0] = statusBadArg
			return
		}
		for _, kv := range *hs {
			if kv[0] == string(key) {
				s[0] = uint64(give(ctx, m, []byte(kv[1]), uint32(s[3]), uint32(s[4])))
				return
			}
		}
		s[0] = statusNotFound
	})
	b = fn(b, "proxy_add_header_map_value", func(ctx context.Context, m api.Module, s []uint64) {
		hs := h.headers(uint32(s[0]))
		k, v := read(m, uint32(s[1]), uint32(s[2])), read(m, uint32(s[3]), uint32(s[4]))
		if hs == nil || k == nil || v == nil {
			s[0] = statusBadArg
			return
		}
		*hs = append(*hs, [2]string{string(k), string(v)})
		s[0] = statusOK
	})
	b = fn(b, "proxy_send_local_response", func(ctx context.Context, m api.Module, s []uint64) {
		details, body := read(m, uint32(s[1]), uint32(s[2])), read(m, uint32(s[3]), uint32(s[4]))
		headers := read(m, uint32(s[5]), uint32(s[6]))
		if details == nil || body == nil || headers == nil {
			s[0] = statusBadMemory
			return
		}
		h.local = fmt.Sprintf("%d %s %v %q grpc=%d", uint32(s[0]), details, decodePairs(headers), body, int32(s[7]))
		s[0] = statusOK
	})
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
}

// decodePairs decodes the ABI's serialized header map: a u32 count, then a
// (key length, value length) u32 pair per entry, then each key and value
// followed by a NUL. It returns nil for a malformed map.
func decodePairs(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n)*8 > uint64(len(b)-4) {
		return nil
	}
	sizes, data := b[4:4+8*n], b[4+8*n:]
	var out [][2]string
	for i := uint32(0); i < n; i++ {
		var kv [2]string
		for j := range 2 {
			l := binary.LittleEndian.Uint32(sizes[8*i+4*uint32(j):])
			if uint64(l)+1 > uint64(len(data)) || data[l] != 0 {
				return nil
			}
			kv[j], data = string(data[:l]), data[l+1:]
		}
		out = append(out, kv)
	}
	return out
}

// cfilterRun drives one instance of the guest through a fixed scenario and
// returns a transcript of everything observable at the ABI, and, for an
// instrumented module, the instructions each step executed.
type cfilterRun struct {
	transcript []string
	counts     []uint64
}

func runCFilterScenario(t *testing.T, wasm []byte, config string) cfilterRun {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t, nil)
	h := &testHost{config: []byte(config)}
	h.instantiate(t, r)
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	var run cfilterRun
	instrumented := m.ExportedGlobal(GlobalName) != nil
	step := func(fn string, args ...uint64) uint64 {
		t.Helper()
		var before uint64
		if instrumented {
			before = readCounter(t, m)
		}
		res, err := m.ExportedFunction(fn).Call(ctx, args...)
		if err != nil {
			t.Fatalf("%s%v: %v", fn, args, err)
		}
		if instrumented {
			run.counts = append(run.counts, readCounter(t, m)-before)
		}
		line := fmt.Sprintf("%s%v -> %v | logs %q | req %v | resp %v | local %s",
			fn, args, res, h.logs, h.request, h.response, h.local)
		run.transcript = append(run.transcript, line)
		h.logs, h.local = nil, ""
		if len(res) > 0 {
			return res[0]
		}
		return 0
	}
	step("proxy_on_context_create", 1, 0)
	step("proxy_on_vm_start", 1, 0)
	if ok := step("proxy_on_configure", 1, uint64(len(config))); ok != 1 {
		return run // rejected configuration: the transcript says why
	}
	for i, path := range []string{"/productpage", "/c-deny", "/c-deny?user=x", "/c-denyx", ""} {
		id := uint64(2 + i)
		h.request = [][2]string{{":method", "GET"}, {":authority", "bookinfo"}}
		if path != "" {
			h.request = append(h.request, [2]string{":path", path})
		}
		h.response = [][2]string{{":status", "200"}}
		step("proxy_on_context_create", id, 1)
		if step("proxy_on_request_headers", id, uint64(len(h.request)), 1) == 0 {
			step("proxy_on_response_headers", id, 1, 1)
		}
		step("proxy_on_log", id)
		step("proxy_on_done", id)
		step("proxy_on_delete", id)
	}
	step("cfilter_streams")
	return run
}

func TestCFilterBehaviour(t *testing.T) {
	wasm := buildCFilter(t)
	inst := mustInstrument(t, wasm)
	for _, tc := range []struct {
		config string
		want   []string // substrings the transcript must contain, in order
	}{{
		config: "blue",
		want: []string{
			`proxy_on_vm_start[1 0] -> [1] | logs ["2: c filter: vm started"]`,
			`proxy_on_configure[1 4] -> [1] | logs ["2: c filter: configured x-c-filter=blue"]`,
			`proxy_on_request_headers[2 3 1] -> [0]`, `[x-c-filter blue]]`,
			`proxy_on_response_headers[2 1 1] -> [0]`, `[x-c-filter-path /productpage]]`,
			`proxy_on_log[2] -> [] | logs ["2: c filter: done /productpage"]`,
			`proxy_on_done[2] -> [1]`,
			`proxy_on_request_headers[3 3 1] -> [1] | logs ["2: c filter: denying /c-deny"]`,
			`local 403 c_filter_denied [[x-c-filter blue]] "denied by the c filter\n" grpc=-1`,
			`proxy_on_request_headers[4 3 1] -> [1] | logs ["2: c filter: denying /c-deny?user=x"]`,
			`proxy_on_request_headers[5 3 1] -> [0]`,
			`proxy_on_request_headers[6 2 1] -> [0]`,
			`proxy_on_log[6] -> [] | logs ["2: c filter: done (no :path)"]`,
			`cfilter_streams[] -> [0]`,
		},
	}, {
		config: "",
		want: []string{
			`logs ["2: c filter: configured x-c-filter=1 (default)"]`,
			`[x-c-filter 1]]`,
			`local 403 c_filter_denied [[x-c-filter 1]]`,
		},
	}, {
		config: "bad\r\nvalue",
		want:   []string{`proxy_on_configure[1 10] -> [0] | logs ["4: c filter: configuration is not a valid header value"]`},
	}} {
		t.Run(fmt.Sprintf("config=%q", tc.config), func(t *testing.T) {
			orig := runCFilterScenario(t, wasm, tc.config)
			text := strings.Join(orig.transcript, "\n")
			rest := text
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("transcript lacks (in order) %q\n--- transcript ---\n%s", w, text)
				}
				rest = rest[i+len(w):]
			}
			// The instrumented guest behaves identically and counts the
			// same on two fresh instances.
			a, b := runCFilterScenario(t, inst, tc.config), runCFilterScenario(t, inst, tc.config)
			if got := strings.Join(a.transcript, "\n"); got != text {
				t.Errorf("instrumented guest behaves differently\n--- original ---\n%s\n--- instrumented ---\n%s", text, got)
			}
			if !slices.Equal(a.counts, b.counts) {
				t.Errorf("counts differ between two fresh instances:\n%v\n%v", a.counts, b.counts)
			}
			for i, n := range a.counts {
				if n == 0 {
					t.Errorf("step %d (%s) counted no instruction", i, a.transcript[i])
				}
			}
		})
	}
}

// TestCFilterFreesHostBuffers: the guest frees what the host allocated in
// it, so memory stays flat over many requests with large paths.
func TestCFilterFreesHostBuffers(t *testing.T) {
	wasm := buildCFilter(t)
	ctx := context.Background()
	r := newRuntime(t, nil)
	h := &testHost{config: []byte(strings.Repeat("v", 4096))}
	h.instantiate(t, r)
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	call := func(fn string, args ...uint64) {
		if _, err := m.ExportedFunction(fn).Call(ctx, args...); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	call("proxy_on_context_create", 1, 0)
	path := "/" + strings.Repeat("p", 8192)
	var pages uint32
	for i := uint64(0); i < 2000; i++ {
		call("proxy_on_configure", 1, uint64(len(h.config))) // replaces (frees) the old value
		id := 2 + i
		h.request = [][2]string{{":path", path}}
		h.response = nil
		call("proxy_on_context_create", id, 1)
		call("proxy_on_request_headers", id, 1, 1)
		call("proxy_on_response_headers", id, 0, 1)
		call("proxy_on_log", id)
		call("proxy_on_done", id)
		call("proxy_on_delete", id)
		if i == 10 {
			pages = m.Memory().Size() / 65536
		}
	}
	// 2000 requests would hold ~16 MB (>250 pages) had any buffer leaked.
	if now := m.Memory().Size() / 65536; now != pages {
		t.Errorf("memory grew from %d to %d pages over 2000 requests: host buffers leak", pages, now)
	}
}

// TestCFilterLoopCount: cfilter_loop's count is exactly a + b·n. a and b
// depend on clang's code, so they are taken from n = 0 and n = 1; every other
// n must then fit exactly, and results match the original module.
func TestCFilterLoopCount(t *testing.T) {
	wasm := buildCFilter(t)
	ctx := context.Background()
	r := newRuntime(t, nil)
	(&testHost{}).instantiate(t, r)
	cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize")
	om, err := r.InstantiateWithConfig(ctx, wasm, cfg.WithName("orig"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := r.InstantiateWithConfig(ctx, mustInstrument(t, wasm), cfg.WithName("inst"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(n uint64) uint64 {
		t.Helper()
		want, err := om.ExportedFunction("cfilter_loop").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		before := readCounter(t, im)
		got, err := im.ExportedFunction("cfilter_loop").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != want[0] {
			t.Fatalf("cfilter_loop(%d) = %d instrumented, %d original", n, got[0], want[0])
		}
		return readCounter(t, im) - before
	}
	a := count(0)
	b := count(1) - a
	if b == 0 {
		t.Fatal("an iteration counted nothing")
	}
	for _, n := range []uint64{2, 3, 10, 1000, 123457} {
		if got := count(n); got != a+b*n {
			t.Errorf("cfilter_loop(%d) counted %d, want a + b·n = %d + %d·%d = %d", n, got, a, b, n, a+b*n)
		}
		if again := count(n); again != a+b*n {
			t.Errorf("cfilter_loop(%d) counted %d the second time", n, again)
		}
	}
	t.Logf("cfilter_loop: %d + %d·n instructions", a, b)
}

package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// run starts a stream on plugin p and runs its request headers.
func run(t *testing.T, p *Plugin, h Fields, eos bool) (*Stream, Verdict, Fields) {
	t.Helper()
	s := NewSlot(NewChain(p)).Chain().NewStream(StreamInfo{})
	v := s.RequestHeaders(ctxT(t), &h, eos)
	return s, v, h
}

func wantHeader(t *testing.T, f Fields, name, want string) {
	t.Helper()
	got, ok := f.Get(name)
	if !ok || got != want {
		t.Errorf("header %s = %q (present %v), want %q; all: %v", name, got, ok, want, f)
	}
}

func wantReport(t *testing.T, rep map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got, ok := rep[k]; !ok || got != w {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, w)
		}
	}
}

const (
	errNotFound    = "error status returned by host: not found"
	errBadArgument = "error status returned by host: bad argument"
	errEmpty       = "error status returned by host: empty"
	errCAS         = "error status returned by host: cas mismatch"
)

func TestHeaderMaps(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	req := request("headers", "x-in", "hello", "x-removed", "gone", "x-replaced", "old", "x-replaced", "dup")
	n := len(req)
	s, v, req := run(t, p, req, true)
	defer s.Close()
	if v != Continue {
		t.Fatalf("verdict %v, local %+v", v, s.LocalResponse())
	}
	wantHeader(t, req, "x-added", "a")
	wantHeader(t, req, "x-replaced", "new:hello")
	wantHeader(t, req, "x-num-arg", strconv.Itoa(n))
	wantHeader(t, req, "x-count", strconv.Itoa(n-2+1)) // x-removed gone, duplicate x-replaced folded, x-added in
	wantHeader(t, req, "x-size-status", "0")
	wantHeader(t, req, "x-absent-err", "absent="+errNotFound+"\n")
	wantHeader(t, req, "x-resp-before", errNotFound)
	if _, ok := req.Get("x-removed"); ok {
		t.Error("x-removed still present")
	}
	sz, _ := strconv.Atoi(req.Value("x-size"))
	if sz < 4+8*n {
		t.Errorf("x-size %d is smaller than any encoding of %d headers", sz, n)
	}
	// response direction
	resp := Fields{{":status", "200"}, {"x-resp-removed", "1"}, {"content-type", "text/plain"}}
	if v := s.ResponseHeaders(ctxT(t), &resp, false); v != Continue {
		t.Fatalf("response verdict %v", v)
	}
	wantHeader(t, resp, "x-resp-status-seen", "200")
	wantHeader(t, resp, "x-resp-replaced", "r")
	wantHeader(t, resp, "x-resp-count", "4") // :status, content-type and the two added
	wantHeader(t, resp, "x-req-write-in-resp", errBadArgument)
	if _, ok := resp.Get("x-resp-removed"); ok {
		t.Error("x-resp-removed still present")
	}
	if _, ok := req.Get("x-late"); ok {
		t.Error("a response callback changed the request headers")
	}
}

func TestSetHeaderMapPairs(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, v, req := run(t, p, request("pairs", "x-drop", "1", "x-keep", "2"), true)
	defer s.Close()
	if v != Continue {
		t.Fatalf("verdict %v", v)
	}
	wantHeader(t, req, "x-pairs", "1")
	wantHeader(t, req, "x-keep", "2")
	wantHeader(t, req, ":path", "/p?q=1")
	if _, ok := req.Get("x-drop"); ok {
		t.Error("x-drop survived set_header_map_pairs")
	}
	resp := Fields{{":status", "200"}, {"x-gone", "1"}}
	s.ResponseHeaders(ctxT(t), &resp, true)
	if len(resp) != 2 || resp.Value(":status") != "201" || resp.Value("x-only") != "1" {
		t.Errorf("response pairs = %v", resp)
	}
}

func TestLocalResponses(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	cases := []struct {
		test   string
		status int
		body   string
	}{
		{"local", 418, "teapot"},
		{"local-continue", 403, "denied"},
	}
	for _, c := range cases {
		t.Run(c.test, func(t *testing.T) {
			s, v, _ := run(t, p, request(c.test), true)
			defer s.Close()
			lr := s.LocalResponse()
			if v != Respond || lr == nil || lr.Status != c.status || string(lr.Body) != c.body || lr.Plugin != "tg" {
				t.Fatalf("verdict %v local %+v", v, lr)
			}
		})
	}
	t.Run("response-phase", func(t *testing.T) {
		s, v, _ := run(t, p, request("local-response-phase"), true)
		defer s.Close()
		if v != Continue {
			t.Fatalf("request verdict %v", v)
		}
		resp := Fields{{":status", "200"}}
		if v := s.ResponseHeaders(ctxT(t), &resp, true); v != Respond || s.LocalResponse().Status != 502 {
			t.Fatalf("verdict %v local %+v", v, s.LocalResponse())
		}
	})
	if got := p.Stats().LocalReply; got != 3 {
		t.Errorf("local response count %d, want 3", got)
	}
}

func TestBodies(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, v, _ := run(t, p, request("body", ":method", "POST"), false)
	defer s.Close()
	if v != Continue {
		t.Fatalf("verdict %v", v)
	}
	chunk := []byte("ab")
	out, v := s.RequestBody(ctxT(t), chunk, false)
	if v != Continue || len(out) != 0 {
		t.Fatalf("first chunk: %q %v (the filter buffers until end of stream)", out, v)
	}
	copy(chunk, "zz") // the stream must not have kept the caller's buffer
	out, v = s.RequestBody(ctxT(t), []byte("cd"), true)
	if v != Continue || string(out) != "ABCD" {
		t.Fatalf("last chunk: %q %v", out, v)
	}
	resp := Fields{{":status", "200"}}
	s.ResponseHeaders(ctxT(t), &resp, false)
	out, _ = s.ResponseBody(ctxT(t), []byte("x"), false)
	if string(out) != "x" {
		t.Fatalf("streamed response chunk %q", out)
	}
	out, _ = s.ResponseBody(ctxT(t), []byte("y"), true)
	if string(out) != "head+y+tail" {
		t.Fatalf("last response chunk %q", out)
	}
}

func TestTrailers(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, _, _ := run(t, p, request("trailers", ":method", "POST"), false)
	defer s.Close()
	tr := Fields{{"x-t-in", "v"}, {"x-t-removed", "1"}, {"x-t-replaced", "old"}}
	if v := s.RequestTrailers(ctxT(t), &tr); v != Continue {
		t.Fatalf("verdict %v", v)
	}
	wantHeader(t, tr, "x-t-added", "3")
	wantHeader(t, tr, "x-t-replaced", "new:v")
	wantHeader(t, tr, "x-t-count", "3")
	if _, ok := tr.Get("x-t-removed"); ok {
		t.Error("x-t-removed survived")
	}
	resp := Fields{{":status", "200"}}
	s.ResponseHeaders(ctxT(t), &resp, false)
	rt := Fields{{"x-rt-in", "w"}, {"x-rt-removed", "1"}}
	s.ResponseTrailers(ctxT(t), &rt)
	wantHeader(t, rt, "x-rt-added", "1")
	wantHeader(t, rt, "x-rt-replaced", "r")
	wantHeader(t, rt, "x-rt-seen", "w/3")
	wantHeader(t, rt, "x-rt-pairs", "1")
}

func TestProperties(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{Position: PositionNIC, NodeID: "node-7", NodeMetadata: map[string]string{"region": "eu"}})
	p := load(t, h, testGuest(t), PluginConfig{Name: "props", RootID: "root-a", VMID: "vm-b"})
	info := StreamInfo{
		Source:       netip.MustParseAddrPort("127.0.0.2:40000"),
		Destination:  netip.MustParseAddrPort("127.0.0.3:9080"),
		ConnectionID: 99,
	}
	s := NewChain(p).NewStream(info)
	defer s.Close()
	before := time.Now().UnixNano()
	hd := request("props", "x-in", "hi")
	if v := s.RequestHeaders(ctxT(t), &hd, true); v != Respond {
		t.Fatalf("verdict %v", v)
	}
	rep := reportOf(t, s)
	wantReport(t, rep, map[string]string{
		"request.path": "/p?q=1", "request.url_path": "/p", "request.host": "svc.test:9080",
		"request.scheme": "http", "request.method": "GET", "request.id": "rid-1", "request.protocol": "HTTP/1.1",
		"request.headers.count": strconv.Itoa(len(hd)), "request.headers.err": "ok", "request.headers.x-in": "hi",
		"source.address": "127.0.0.2:40000", "source.port": "40000",
		"destination.address": "127.0.0.3:9080", "destination.port": "9080", "connection.id": "99",
		"upstream.address": errNotFound,
		"plugin_name":      "props", "plugin_root_id": "root-a", "plugin_vm_id": "vm-b",
		"node.id": "node-7", "node.metadata.region": "eu", "nicrt.position": "nic",
		"no.such.thing": errNotFound,
		"set-mine":      "ok", "mine.key": "val", "set-reserved": errBadArgument,
		"response.code": errNotFound,
	})
	ts, _ := strconv.ParseInt(rep["request.time"], 10, 64)
	if ts > before || ts < before-int64(time.Minute) {
		t.Errorf("request.time %d is not the stream's start (test began at %d)", ts, before)
	}
	// Response-phase properties.
	s2 := NewChain(p).NewStream(info)
	defer s2.Close()
	hd2 := request("resp-props")
	s2.RequestHeaders(ctxT(t), &hd2, true)
	s2.SetUpstreamAddress("127.0.0.9:8080")
	resp := Fields{{":status", "503"}}
	s2.ResponseHeaders(ctxT(t), &resp, false)
	wantHeader(t, resp, "x-response-code", "503")
	wantHeader(t, resp, "x-upstream", "127.0.0.9:8080ok")
	wantHeader(t, resp, "x-details", "via_upstream")
	s2.ResponseBody(ctxT(t), []byte("hello"), false)
	s2.ResponseBody(ctxT(t), []byte("!!"), true)
	s2.Close() // proxy_on_log reads response.size and response.headers
	if n, _ := h.Metrics().Value("tg_resp_size"); n != 7 {
		t.Errorf("response.size in proxy_on_log = %d, want the 7 body bytes", n)
	}
	if n, _ := h.Metrics().Value("tg_resp_headers"); n != int64(len(resp)) {
		t.Errorf("response.headers in proxy_on_log has %d entries, want %d (%v)", n, len(resp), resp)
	}
}

func TestSharedData(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{VMID: "shared-vm"})
	for i := 0; i < 2; i++ { // round-robin: the two runs land on both VMs
		s, v, _ := run(t, p, request("shared"), true)
		if v != Respond {
			t.Fatalf("verdict %v", v)
		}
		wantReport(t, reportOf(t, s), map[string]string{
			"set1": "ok", "get1": "ok", "set2": "ok", "set3-stale": errCAS,
			"value": "v2", "cas-advanced": "true", "missing": errNotFound,
		})
		s.Close()
	}
	// The host-side store is shared per vm_id, not per plugin or VM.
	if v, _, ok := h.shared.get("shared-vm", []byte("k")); !ok || string(v) != "v2" {
		t.Errorf("shared store for vm_id shared-vm: %q %v", v, ok)
	}
	if _, _, ok := h.shared.get("", []byte("k")); ok {
		t.Error("shared data leaked into another vm_id")
	}
}

// TestSharedDataAcrossVMs: guests on different VMs of one pool, and on
// another plugin with the same vm_id, see one store and one CAS token per
// key; a stale token loses; another vm_id sees nothing.
func TestSharedDataAcrossVMs(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	wasm := testGuest(t)
	a := load(t, h, wasm, PluginConfig{Name: "a", VMID: "pool", PoolSize: 2})
	b := load(t, h, wasm, PluginConfig{Name: "b", VMID: "pool", PoolSize: 1})
	other := load(t, h, wasm, PluginConfig{Name: "c", VMID: "elsewhere", PoolSize: 1})
	// op runs one shared-data operation on p, on VM slot vm of its pool.
	op := func(p *Plugin, vm int, kv ...string) map[string]string {
		t.Helper()
		for try := 0; try < 2*len(p.vms); try++ { // round-robin: land on the wanted VM
			s, v, _ := run(t, p, request("shared-op", append([]string{"x-key", "k"}, kv...)...), true)
			if s.ctxs[0].v.slot != vm {
				s.Close()
				continue
			}
			defer s.Close()
			if v != Respond {
				t.Fatalf("verdict %v", v)
			}
			return reportOf(t, s)
		}
		t.Fatalf("no stream of plugin %s landed on VM %d", p.Name(), vm)
		return nil
	}
	wantReport(t, op(a, 0, "x-op", "set", "x-value", "v1"), map[string]string{"set": "ok"})
	seen1 := op(a, 1, "x-op", "get")
	wantReport(t, seen1, map[string]string{"get": "ok", "value": "v1"})
	wantReport(t, op(a, 0, "x-op", "get"), map[string]string{"cas": seen1["cas"]})
	// Another plugin with the same vm_id writes with the token VM 1 read...
	wantReport(t, op(b, 0, "x-op", "set", "x-value", "v2", "x-cas", seen1["cas"]), map[string]string{"set": "ok"})
	// ...so VM 1's write with that token is stale.
	wantReport(t, op(a, 1, "x-op", "set", "x-value", "v3", "x-cas", seen1["cas"]), map[string]string{"set": errCAS})
	wantReport(t, op(a, 0, "x-op", "get"), map[string]string{"value": "v2"})
	wantReport(t, op(other, 0, "x-op", "get"), map[string]string{"get": errNotFound})
}

// TestSharedDataCASStore: of two writers holding the same token, exactly
// one wins.
func TestSharedDataCASStore(t *testing.T) {
	var d sharedData
	d.init()
	if s := d.set("vm", []byte("k"), []byte("1"), 0); s != abi.StatusOK {
		t.Fatal(s)
	}
	_, cas, _ := d.get("vm", []byte("k"))
	// Two writers with the same token: exactly one wins.
	wins := 0
	for i := 0; i < 2; i++ {
		if d.set("vm", []byte("k"), []byte("x"), cas) == abi.StatusOK {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won the same CAS token", wins)
	}
}

func TestSharedQueues(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{VMID: "q-vm", PoolSize: 1})
	s, v, _ := run(t, p, request("queue"), true)
	if v != Respond {
		t.Fatalf("verdict %v", v)
	}
	wantReport(t, reportOf(t, s), map[string]string{
		"register": "ok", "resolve": "ok", "same-id": "true", "resolve-missing": errNotFound,
		"enqueue": "ok", "enqueue-missing": errNotFound, "dequeue-missing": errNotFound,
	})
	s.Close()
	// proxy_on_queue_ready fires on the root context and dequeues the item.
	waitFor(t, "proxy_on_queue_ready", func() bool { v, _ := h.Metrics().Value("tg_queue_ready"); return v == 1 })
	s, _, _ = run(t, p, request("queue-drain"), true)
	wantReport(t, reportOf(t, s), map[string]string{"dequeue": "ok", "item": "one", "dequeue-empty": errEmpty})
	s.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, _, _ := run(t, p, request("metrics"), true)
	wantReport(t, reportOf(t, s), map[string]string{
		"same-id": "true", "counter": "3", "gauge": "3", "negative-counter": strconv.Itoa(int(abi.StatusBadArgument)),
	})
	s.Close()
	var b bytes.Buffer
	if err := h.Metrics().WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE tg_counter counter\ntg_counter 3\n",
		"# TYPE tg_gauge gauge\ntg_gauge 3\n",
		"# TYPE tg_hist histogram\n",
		`tg_hist_bucket{le="25"} 0`, `tg_hist_bucket{le="50"} 1`, `tg_hist_bucket{le="+Inf"} 1`,
		"tg_hist_sum 42\n", "tg_hist_count 1\n",
		`tg_labeled{cluster="a"} 1`,
		"tg_streams_done 1\n", // proxy_on_log ran for the stream
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
}

func TestMetricNames(t *testing.T) {
	cases := []struct{ in, family, labels string }{
		{"plain_name", "plain_name", ""},
		{"dots.and-dashes", "dots_and_dashes", ""},
		{`req{cluster="reviews-v1"}`, "req", `cluster="reviews-v1"`},
		{`req{a="1",b="x\"y"}`, "req", `a="1",b="x\"y"`},
		{`bad{cluster=unquoted}`, "bad_cluster_unquoted_", ""},
		{"9starts_with_digit", "_starts_with_digit", ""},
	}
	for _, c := range cases {
		f, l := splitMetricName(c.in)
		if f != c.family || l != c.labels {
			t.Errorf("splitMetricName(%q) = %q, %q; want %q, %q", c.in, f, l, c.family, c.labels)
		}
	}
}

func TestForeignFunctions(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	h.RegisterForeignFunction("echo", func(b []byte) ([]byte, error) { return append([]byte(nil), b...), nil })
	p := load(t, h, testGuest(t), PluginConfig{})
	s, _, _ := run(t, p, request("foreign"), true)
	defer s.Close()
	wantReport(t, reportOf(t, s), map[string]string{"echo": "ok", "echo-out": "abc", "unknown": errNotFound})
}

func TestHTTPCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callout" || r.Host != "callout.test" || r.Header.Get("x-from") != "guest" {
			http.Error(w, fmt.Sprintf("unexpected request %s %s %v", r.Host, r.URL, r.Header), 400)
			return
		}
		w.Header().Set("x-callout", "yes")
		w.Write([]byte("pong"))
	}))
	defer srv.Close()
	// slow never answers while the test runs: only the guest's timeout
	// ends its calls. (Deferred after srv.Close, so it runs first.)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	clusters := map[string]string{"up": srv.Listener.Addr().String(), "down": deadAddr, "slow": slow.Listener.Addr().String()}
	h, _ := newTestHost(t, HostConfig{Clusters: func(n string) (string, bool) { a, ok := clusters[n]; return a, ok }})
	p := load(t, h, testGuest(t), PluginConfig{})

	t.Run("resume", func(t *testing.T) {
		s, v, req := run(t, p, request("httpcall", "x-cluster", "up"), true)
		defer s.Close()
		if v != Continue {
			t.Fatalf("verdict %v %+v", v, s.LocalResponse())
		}
		wantHeader(t, req, "x-call-status", "200")
		wantHeader(t, req, "x-call-body", "pong")
	})
	t.Run("local", func(t *testing.T) {
		s, v, _ := run(t, p, request("httpcall-local", "x-cluster", "up"), true)
		defer s.Close()
		if v != Respond {
			t.Fatalf("verdict %v", v)
		}
		wantReport(t, reportOf(t, s), map[string]string{"body": "pong", "get-status": "0", "code": "200", "x-callout": "yes"})
	})
	t.Run("unknown-cluster", func(t *testing.T) {
		s, _, _ := run(t, p, request("httpcall", "x-cluster", "nope"), true)
		defer s.Close()
		wantReport(t, reportOf(t, s), map[string]string{"dispatch": errBadArgument})
	})
	t.Run("timeout", func(t *testing.T) {
		t0 := time.Now()
		s, v, _ := run(t, p, request("httpcall-local", "x-cluster", "slow", "x-timeout", "100"), true)
		defer s.Close()
		// The guest asked for 100 ms; the host's default would be 5 s.
		if took := time.Since(t0); took >= DefaultHTTPCallTimeout/2 {
			t.Errorf("a call with a 100 ms timeout ended after %v", took)
		}
		if v != Respond {
			t.Fatalf("verdict %v", v)
		}
		rep := reportOf(t, s)
		wantReport(t, rep, map[string]string{"headers": "0", "code": "0", "get-status": "0"})
		if !strings.Contains(rep["message"], "deadline exceeded") {
			t.Errorf("proxy_get_status message %q does not say the call timed out", rep["message"])
		}
	})
	t.Run("upstream-down", func(t *testing.T) {
		s, v, _ := run(t, p, request("httpcall-local", "x-cluster", "down"), true)
		defer s.Close()
		if v != Respond {
			t.Fatalf("verdict %v", v)
		}
		wantReport(t, reportOf(t, s), map[string]string{"headers": "0", "code": "0", "get-status": "0"})
	})
}

func TestTickResumesPausedStream(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{Configuration: []byte("tick=5"), PoolSize: 1})
	s, v, req := run(t, p, request("tick-pause"), true)
	defer s.Close()
	if v != Continue {
		t.Fatalf("verdict %v", v)
	}
	wantHeader(t, req, "x-resumed-by", "tick")
	if n, _ := h.Metrics().Value("tg_ticks"); n < 1 {
		t.Errorf("tg_ticks = %d", n)
	}
}

func TestPausedStreamEndsWithContext(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s := NewChain(p).NewStream(StreamInfo{})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	hd := request("pause-forever")
	if v := s.RequestHeaders(ctx, &hd, true); v != Reset {
		t.Fatalf("verdict %v, want reset once the context ends", v)
	}
}

func TestCloseStream(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, v, req := run(t, p, request("close"), true)
	defer s.Close()
	if v != Reset {
		t.Fatalf("verdict %v", v)
	}
	wantHeader(t, req, "x-close-status", "0")
}

func TestLogging(t *testing.T) {
	h, sink := newTestHost(t, HostConfig{LogLevel: LogDebug})
	p := load(t, h, testGuest(t), PluginConfig{})
	s, _, _ := run(t, p, request("log"), true)
	defer s.Close()
	wantReport(t, reportOf(t, s), map[string]string{
		"log-level-status": "0", "log-level": "1",
		"bad-level": strconv.Itoa(int(abi.StatusBadArgument)), "bad-pointer": strconv.Itoa(int(abi.StatusInvalidMemoryAccess)),
	})
	for _, want := range []string{"level=DEBUG msg=tg-debug", "level=INFO msg=tg-info", "level=WARN msg=tg-warn", "level=ERROR msg=tg-error", "msg=tg-critical", `msg="tg-infof 7"`, "level=ERROR msg=tg-stderr-line"} {
		if !sink.contains(want) {
			t.Errorf("log lacks %q:\n%s", want, sink)
		}
	}
	if sink.contains("tg-trace") {
		t.Error("a trace line passed a debug-level host")
	}
}

// TestWASI: a Go guest gets real clocks, a real sleep, crypto-strength
// randomness, stdout in the log at info level, no filesystem and no
// arguments or environment (wazero's defaults would give a fixed clock, a
// no-op sleep and the same random bytes on every start).
func TestWASI(t *testing.T) {
	wasm := testGuest(t)
	report := func() (map[string]string, *logSink, time.Duration, time.Duration) {
		h, sink := newTestHost(t, HostConfig{})
		p := load(t, h, wasm, PluginConfig{PoolSize: 1})
		// The guest runs on this goroutine: pin it to its thread so the
		// thread's CPU time is the callback's.
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		cpu0, _ := threadCPU()
		t0 := time.Now()
		s, v, _ := run(t, p, request("wasi"), true)
		took := time.Since(t0)
		cpu1, _ := threadCPU()
		defer s.Close()
		if v != Respond {
			t.Fatalf("verdict %v", v)
		}
		return reportOf(t, s), sink, took, cpu1 - cpu0
	}
	a, sink, took, cpu := report()
	b, _, _, _ := report()
	wantReport(t, a, map[string]string{"random-err": "ok", "fs": "true", "args": "0", "env": "0"})
	wall, _ := strconv.ParseInt(a["wall"], 10, 64)
	if d := time.Since(time.Unix(0, wall)); d < 0 || d > time.Minute {
		t.Errorf("guest wall clock %v is not the host's (%v)", time.Unix(0, wall), time.Now())
	}
	// The guest slept 50 ms: the callback takes that long, and a real sleep
	// leaves the thread idle (a no-op poll_oneoff makes Go's scheduler spin
	// for the whole 50 ms instead).
	if slept, _ := strconv.ParseInt(a["slept-ns"], 10, 64); took < 50*time.Millisecond || time.Duration(slept) < 50*time.Millisecond {
		t.Errorf("time.Sleep(50ms) in the guest: callback took %v, guest measured %v", took, time.Duration(slept))
	}
	t.Logf("guest time.Sleep(50ms): callback %v, thread CPU %v", took, cpu)
	if _, ok := threadCPU(); ok && cpu > 15*time.Millisecond {
		t.Errorf("time.Sleep(50ms) in the guest used %v of CPU: the guest spun instead of sleeping", cpu)
	}
	if a["random"] == b["random"] || a["random"] == strings.Repeat("0", 32) {
		t.Errorf("random_get gave %s on one host and %s on another", a["random"], b["random"])
	}
	if !sink.contains("level=INFO msg=tg-stdout-line") {
		t.Errorf("guest stdout is not in the log at info:\n%s", sink)
	}
}

func TestMiscHostCalls(t *testing.T) {
	h, sink := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{Configuration: []byte(""), VMConfiguration: []byte("vmconf")})
	s, _, _ := run(t, p, request("misc"), true)
	defer s.Close()
	st := func(x abi.Status) string { return strconv.Itoa(int(x)) }
	wantReport(t, reportOf(t, s), map[string]string{
		"time-status": "0", "time-nonzero": "true",
		"grpc-call": st(abi.StatusUnimplemented), "grpc-stream": st(abi.StatusUnimplemented),
		"grpc-send": st(abi.StatusUnimplemented), "grpc-cancel": st(abi.StatusUnimplemented), "grpc-close": st(abi.StatusUnimplemented),
		"done-not-pending": st(abi.StatusNotFound), "effective-bogus": st(abi.StatusBadArgument),
		"continue-downstream": st(abi.StatusUnimplemented), "continue-bogus": st(abi.StatusBadArgument),
		"status-outside-callout": st(abi.StatusNotFound),
		"vm-config":              "ok", "vm-config-value": "vmconf", "plugin-config": "",
		"body-in-headers": errNotFound, "tick-set": "ok",
		"buffer-status-bad": st(abi.StatusBadArgument), "map-bad": st(abi.StatusBadArgument),
		"bad-ret-pointer": st(abi.StatusInvalidMemoryAccess), "downstream-data": errNotFound,
	})
	if !sink.contains("gRPC callouts are not implemented") || !sink.contains("call=proxy_grpc_call") {
		t.Errorf("no log line names the unimplemented gRPC call:\n%s", sink)
	}
}

func TestDeferredDone(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, wasmbuild.Go(t, "testdata/guests/rawdone"), PluginConfig{PoolSize: 1})
	s := NewChain(p).NewStream(StreamInfo{})
	hd := request("")
	if v := s.RequestHeaders(ctxT(t), &hd, true); v != Continue {
		t.Fatal(v)
	}
	s.Close()
	if n, _ := h.Metrics().Value("raw_logged"); n != 0 {
		t.Fatalf("proxy_on_log ran before the guest called proxy_done")
	}
	waitFor(t, "proxy_done to finish the context", func() bool {
		l, _ := h.Metrics().Value("raw_logged")
		d, _ := h.Metrics().Value("raw_deleted")
		ok, _ := h.Metrics().Value("raw_done_ok")
		return l == 1 && d == 1 && ok == 1
	})
}

func TestFailures(t *testing.T) {
	cases := []struct {
		test string
		cfg  HostConfig
		want string // in the failure's error
	}{
		{"panic", HostConfig{}, "unreachable"}, // a Go panic aborts via unreachable
		{"oob", HostConfig{}, "out of bounds memory access"},
		{"loop", HostConfig{CallDeadline: 100 * time.Millisecond}, "exceeded the 100ms callback deadline"},
		// A generous deadline: filling 32 MiB with GC in between can take
		// longer than the default on a loaded machine, and then the deadline
		// would stop the guest first.
		{"oom", HostConfig{MemoryLimitPages: 512, CallDeadline: 30 * time.Second}, "of its 32 MiB limit"},
	}
	for _, c := range cases {
		for _, open := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fail_open=%v", c.test, open), func(t *testing.T) {
				h, _ := newTestHost(t, c.cfg)
				p := load(t, h, testGuest(t), PluginConfig{FailOpen: open, PoolSize: 1})
				slot := NewSlot(NewChain(p))
				s := slot.NewStream(StreamInfo{})
				hd := request(c.test)
				v := s.RequestHeaders(ctxT(t), &hd, true)
				lr := s.LocalResponse()
				s.Close()
				if open {
					if v != Continue || lr != nil {
						t.Fatalf("fail-open: verdict %v local %+v", v, lr)
					}
					if p.Stats().FailOpen != 1 {
						t.Errorf("stats %+v", p.Stats())
					}
				} else {
					if v != Respond || lr == nil || lr.Status != 500 || lr.Details != "wasm_fail_stream" || lr.Err == nil {
						t.Fatalf("fail-closed: verdict %v local %+v", v, lr)
					}
					var ce *CallError
					if !errors.As(lr.Err, &ce) || !strings.Contains(lr.Err.Error(), c.want) {
						t.Fatalf("failure %v, want a CallError mentioning %q", lr.Err, c.want)
					}
				}
				// The data plane keeps serving: the next request works on a
				// replacement VM.
				s2 := slot.NewStream(StreamInfo{})
				hd2 := request("local")
				if v := s2.RequestHeaders(ctxT(t), &hd2, true); v != Respond || s2.LocalResponse().Status != 418 {
					t.Fatalf("next request: verdict %v local %+v", v, s2.LocalResponse())
				}
				s2.Close()
				st := p.Stats()
				if st.VMFailures != 1 || st.VMRestarts != 1 {
					t.Errorf("stats after one failure: %+v", st)
				}
			})
		}
	}
}

func TestLoadErrors(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	good := testGuest(t)
	hugeImports := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 2, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}
	cases := []struct {
		name  string
		wasm  []byte
		cfg   PluginConfig
		stage string
		want  string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), PluginConfig{Name: "x"}, "compile", "not a WebAssembly module"},
		{"truncated", good[:1000], PluginConfig{Name: "x"}, "compile", "invalid module"},
		// 15 bytes declaring 2^32-1 imports: wazero alone would try to
		// allocate for all of them and abort the process.
		{"huge import count", hugeImports, PluginConfig{Name: "x"}, "compile", "import section at byte offset 10 (0xa): declares 4294967295 imports"},
		{"huge import count, counted", hugeImports, PluginConfig{Name: "x", CountInstructions: true}, "compile", "declares 4294967295 imports"},
		{"no marker", wasmbuild.Go(t, "testdata/guests/nomarker"), PluginConfig{Name: "x"}, "module", "missing export proxy_abi_version_0_2_1"},
		{"unknown import", wasmbuild.Go(t, "testdata/guests/badimport"), PluginConfig{Name: "x"}, "module", "env.proxy_teleport(i32)->(i32) (not provided by nicrt)"},
		{"wrong signature", wasmbuild.Go(t, "testdata/guests/badimport"), PluginConfig{Name: "x"}, "module", "env.proxy_log(i32)->(i32) (nicrt provides it as (i32,i32,i32)->(i32))"},
		{"config rejected", good, PluginConfig{Name: "x", Configuration: []byte("reject=1")}, "start", `configuration field "reject" is not supported`},
		{"unknown config field", good, PluginConfig{Name: "x", Configuration: []byte("colour=red")}, "start", "proxy_on_configure returned false"},
		{"vm start rejected", good, PluginConfig{Name: "x", VMConfiguration: []byte("fail")}, "start", "proxy_on_vm_start returned false"},
		{"panic at start", good, PluginConfig{Name: "x", Configuration: []byte("startpanic=1")}, "start", "panic during OnPluginStart"},
		{"bad name", good, PluginConfig{Name: "a b"}, "config", "only letters"},
		{"no name", good, PluginConfig{}, "config", "plugin name is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.Load(context.Background(), c.wasm, c.cfg)
			var le *LoadError
			if !errors.As(err, &le) || le.Stage != c.stage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant a %s-stage LoadError mentioning %q", err, c.stage, c.want)
			}
		})
	}
	// Nothing else changed: the host still loads and runs a good plugin.
	p := load(t, h, good, PluginConfig{})
	s, v, _ := run(t, p, request("local"), true)
	s.Close()
	if v != Respond {
		t.Fatalf("after failed loads: verdict %v", v)
	}
}

func TestInspect(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	r := h.Inspect(context.Background(), testGuest(t))
	if !r.Runnable || r.ABIVersion != "0.2.1" || len(r.Problems) != 0 {
		t.Fatalf("report %+v", r)
	}
	for _, cb := range []string{"proxy_on_request_headers", "proxy_on_http_call_response", "proxy_on_memory_allocate"} {
		found := false
		for _, x := range r.Callbacks {
			found = found || x == cb
		}
		if !found && cb != "proxy_on_memory_allocate" {
			t.Errorf("callbacks lack %s: %v", cb, r.Callbacks)
		}
	}
	for _, imp := range r.Imports {
		if !imp.Provided {
			t.Errorf("import %+v not provided", imp)
		}
	}
	bad := h.Inspect(context.Background(), wasmbuild.Go(t, "testdata/guests/badimport"))
	if bad.Runnable || len(bad.Unknown) != 2 {
		t.Fatalf("badimport report %+v", bad)
	}
}

// TestHotSwap: streams started before a swap finish on the old plugin,
// new streams use the new one, and the old plugin closes once drained.
func TestHotSwap(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	a := load(t, h, testGuest(t), PluginConfig{Name: "f", Configuration: []byte("")})
	slot := NewSlot(NewChain(a))
	old := slot.NewStream(StreamInfo{})
	b := load(t, h, testGuest(t), PluginConfig{Name: "f", Configuration: []byte("bench=1")})
	if replaced := slot.Install(b); replaced != a {
		t.Fatalf("Install replaced %v, want the old plugin", replaced)
	}
	// The old stream still runs on a: the "headers" case only exists there
	// (b's bench mode sets x-bench instead).
	hd := request("headers", "x-in", "v")
	if v := old.RequestHeaders(ctxT(t), &hd, true); v != Continue || hd.Value("x-added") != "a" {
		t.Fatalf("old stream: %v %v", v, hd)
	}
	nw := slot.NewStream(StreamInfo{})
	hd2 := request("headers")
	nw.RequestHeaders(ctxT(t), &hd2, true)
	if hd2.Value("x-bench") != "1" {
		t.Fatalf("new stream did not run the new plugin: %v", hd2)
	}
	nw.Close()
	if a.Closed() {
		t.Fatal("old plugin closed while a stream was still on it")
	}
	old.Close()
	waitFor(t, "the retired plugin to close", a.Closed)
	if b.Closed() {
		t.Fatal("the installed plugin closed")
	}
	if !slot.Remove("f") || slot.Remove("f") {
		t.Fatal("Remove")
	}
	waitFor(t, "the removed plugin to close", b.Closed)
}

func TestConcurrentStreams(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	slot := NewSlot(NewChain(p))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s := slot.NewStream(StreamInfo{})
				in := fmt.Sprintf("%d-%d", g, i)
				hd := request("headers", "x-in", in)
				v := s.RequestHeaders(context.Background(), &hd, true)
				s.Close()
				if v != Continue || hd.Value("x-replaced") != "new:"+in {
					errs <- fmt.Errorf("stream %s: %v %v", in, v, hd)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := h.Metrics().Value("tg_streams_done"); n != 400 {
		t.Errorf("proxy_on_log ran %d times for 400 streams", n)
	}
}

func TestEmptyChain(t *testing.T) {
	s := NewSlot(nil).NewStream(StreamInfo{})
	hd := request("x")
	if v := s.RequestHeaders(context.Background(), &hd, true); v != Continue || !s.Empty() {
		t.Fatal(v)
	}
	b, v := s.RequestBody(context.Background(), []byte("x"), true)
	if v != Continue || string(b) != "x" {
		t.Fatal(v, b)
	}
	s.Close()
}

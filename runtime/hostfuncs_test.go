package runtime

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/runtime/internal/abi"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// callRecorder counts the host functions guests call, by module and name,
// and the statuses they return. It is a wazero function listener on the
// host modules, so it sees the calls real wasm makes through the imports.
type callRecorder struct {
	mu    sync.Mutex
	calls map[string]map[string]int // "env.proxy_log" → status → calls
}

func (r *callRecorder) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	return &callListener{r: r, name: def.ModuleName() + "." + def.Name()}
}

func (r *callRecorder) add(name, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[name] == nil {
		r.calls[name] = map[string]int{}
	}
	r.calls[name][status]++
}

type callListener struct {
	r    *callRecorder
	name string
}

func (l *callListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
}

func (l *callListener) After(_ context.Context, _ api.Module, def api.FunctionDefinition, results []uint64) {
	status := "-"
	// results may be the whole call stack (longer than the results).
	if len(def.ResultTypes()) == 1 && len(results) > 0 {
		status = fmt.Sprint(results[0])
		if def.ModuleName() == envModule {
			status = abi.Status(results[0]).String()
		}
	}
	l.r.add(l.name, status)
}

func (l *callListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) {
	l.r.add(l.name, "abort")
}

// TestEveryHostFunctionByName drives the test guests (a stock-Go filter and
// the raw-ABI rawdone guest) through every case they have, and checks that
// each host function nicrt exports was called by that wasm, by name, and
// answered OK at least once (the gRPC calls answer UNIMPLEMENTED). It also
// checks that the Go guest reached the WASI functions the issue names:
// clocks, sleep, randomness and fd_write. The other tests check what each
// call did; this one checks that none is left out.
func TestEveryHostFunctionByName(t *testing.T) {
	rec := &callRecorder{calls: map[string]map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-callout", "yes")
		w.Write([]byte("pong"))
	}))
	defer srv.Close()
	ctx := experimental.WithFunctionListenerFactory(context.Background(), rec)
	h, err := NewHost(ctx, HostConfig{
		Logger:           discard(),
		LogLevel:         LogTrace,
		Clusters:         func(string) (string, bool) { return srv.Listener.Addr().String(), true },
		ForeignFunctions: map[string]ForeignFunc{"echo": func(b []byte) ([]byte, error) { return b, nil }},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	tg := load(t, h, testGuest(t), PluginConfig{Name: "tg", VMID: "cov", Configuration: []byte("tick=5"), VMConfiguration: []byte("vmconf"), PoolSize: 1})
	raw := load(t, h, wasmbuild.Go(t, "testdata/guests/rawdone"), PluginConfig{Name: "raw", PoolSize: 1})

	full := func(s *Stream, eos bool) {
		resp := Fields{{":status", "200"}, {"x-resp-removed", "1"}}
		s.ResponseHeaders(ctxT(t), &resp, eos)
	}
	cases := []struct {
		test  string
		extra []string
		drive func(s *Stream) // after request headers, before Close
	}{
		{"headers", []string{"x-in", "v", "x-removed", "1"}, func(s *Stream) { full(s, true) }},
		{"pairs", []string{"x-drop", "1"}, func(s *Stream) { full(s, true) }},
		{"local", nil, nil},
		{"local-response-phase", nil, func(s *Stream) { full(s, true) }},
		{"props", []string{"x-in", "hi"}, nil},
		{"resp-props", nil, func(s *Stream) { full(s, false); s.ResponseBody(ctxT(t), []byte("b"), true) }},
		{"shared", nil, nil},
		{"queue", nil, nil},
		{"queue-drain", nil, nil},
		{"metrics", nil, nil},
		{"foreign", nil, nil},
		{"httpcall", []string{"x-cluster", "up"}, nil},
		{"httpcall-local", []string{"x-cluster", "up"}, nil},
		{"tick-pause", nil, nil},
		{"close", nil, nil},
		{"log", nil, nil},
		{"misc", nil, nil},
		{"wasi", nil, nil},
		{"body", []string{":method", "POST"}, func(s *Stream) {
			s.RequestBody(ctxT(t), []byte("ab"), false)
			s.RequestBody(ctxT(t), []byte("cd"), true)
			full(s, false)
			s.ResponseBody(ctxT(t), []byte("x"), true)
		}},
		{"trailers", []string{":method", "POST"}, func(s *Stream) {
			tr := Fields{{"x-t-in", "v"}, {"x-t-removed", "1"}}
			s.RequestTrailers(ctxT(t), &tr)
			full(s, false)
			rt := Fields{{"x-rt-in", "w"}}
			s.ResponseTrailers(ctxT(t), &rt)
		}},
	}
	for _, c := range cases {
		s, _, _ := run(t, tg, request(c.test, c.extra...), c.test != "body" && c.test != "trailers")
		if c.drive != nil {
			c.drive(s)
		}
		s.Close()
	}
	s, _, _ := run(t, raw, request(""), true)
	s.Close()
	waitFor(t, "rawdone's deferred proxy_done", func() bool { n, _ := h.Metrics().Value("raw_deleted"); return n == 1 })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var table []string
	for name, st := range rec.calls {
		table = append(table, fmt.Sprintf("%-45s %v", name, st))
	}
	sort.Strings(table)
	t.Logf("host calls by status:\n%s", strings.Join(table, "\n"))
	for _, f := range envFuncs {
		st := rec.calls[envModule+"."+f.name]
		switch {
		case len(st) == 0:
			t.Errorf("no test guest calls %s", f.name)
		case strings.HasPrefix(f.name, "proxy_grpc_"):
			if st["UNIMPLEMENTED"] == 0 {
				t.Errorf("%s answered %v, want UNIMPLEMENTED", f.name, st)
			}
		case st["OK"] == 0:
			t.Errorf("%s never answered OK: %v", f.name, st)
		}
	}
	for _, name := range []string{"clock_time_get", "poll_oneoff", "random_get", "fd_write"} {
		if len(rec.calls["wasi_snapshot_preview1."+name]) == 0 {
			t.Errorf("the Go guest never called WASI %s", name)
		}
	}
}

package runtime

import (
	"context"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// cFilter builds the C guest (runtime/testdata/cfilter) with Debian's clang,
// which .ci/install-deps installs. A missing toolchain fails the test unless
// NICRT_SKIP_MISSING_TOOLS=1 says to skip.
func cFilter(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.C(t, "testdata/cfilter")
}

// TestCGuest runs a filter built by a non-Go toolchain through the host.
func TestCGuest(t *testing.T) {
	wasm := cFilter(t)
	h, sink := newTestHost(t, HostConfig{})
	r := h.Inspect(context.Background(), wasm)
	if !r.Runnable || r.ABIVersion != "0.2.1" {
		t.Fatalf("inspect: %+v", r)
	}
	p := load(t, h, wasm, PluginConfig{Name: "cf", Configuration: []byte("from-config")})
	s, v, req := run(t, p, Fields{{":method", "GET"}, {":path", "/hello"}, {":authority", "x"}}, true)
	if v != Continue {
		t.Fatalf("verdict %v", v)
	}
	wantHeader(t, req, "x-c-filter", "from-config")
	resp := Fields{{":status", "200"}}
	s.ResponseHeaders(ctxT(t), &resp, true)
	wantHeader(t, resp, "x-c-filter-path", "/hello")
	s.Close()
	if !sink.contains("c filter: done /hello") {
		t.Errorf("the C guest's proxy_on_log line is missing:\n%s", sink)
	}
	s, v, _ = run(t, p, Fields{{":method", "GET"}, {":path", "/c-deny?x=1"}, {":authority", "x"}}, true)
	defer s.Close()
	if lr := s.LocalResponse(); v != Respond || lr.Status != 403 || string(lr.Body) != "denied by the c filter\n" {
		t.Fatalf("deny: %v %+v", v, lr)
	}
	// A configuration the guest rejects fails the load with its reason.
	if _, err := h.Load(context.Background(), wasm, PluginConfig{Name: "cf2", Configuration: []byte("bad\nvalue")}); err == nil {
		t.Fatal("the C guest accepted a configuration with a newline")
	}
}

// TestInstructionCounting: counted plugins report executed instructions
// per stream, and the same requests cost the same on a fresh host.
func TestInstructionCounting(t *testing.T) {
	for _, guest := range []struct {
		name string
		wasm func(t testing.TB) []byte
		req  func(i int) Fields
	}{
		{"go", func(t testing.TB) []byte { return testGuest(t) }, func(i int) Fields {
			if i%2 == 0 {
				return request("headers", "x-in", "v")
			}
			return request("local")
		}},
		{"c", cFilter, func(i int) Fields {
			return Fields{{":method", "GET"}, {":path", []string{"/a", "/c-deny"}[i%2]}, {":authority", "x"}}
		}},
	} {
		t.Run(guest.name, func(t *testing.T) {
			wasm := guest.wasm(t)
			counts := func() []uint64 {
				h, _ := newTestHost(t, HostConfig{Position: PositionNIC})
				p := load(t, h, wasm, PluginConfig{Name: "counted", CountInstructions: true, PoolSize: 1})
				var out []uint64
				for i := 0; i < 6; i++ {
					s, _, _ := run(t, p, guest.req(i), true)
					before := s.Instructions()
					s.Close()
					// A Go guest executes code in proxy_on_done, _log
					// and _delete; the stream's count includes them.
					if guest.name == "go" && s.Instructions() <= before {
						t.Errorf("request %d: Close added no instructions (%d before, %d after)", i, before, s.Instructions())
					}
					out = append(out, s.Instructions())
				}
				return out
			}
			a, b := counts(), counts()
			for i := range a {
				if a[i] == 0 {
					t.Fatalf("request %d counted no instructions: %v", i, a)
				}
				if a[i] != b[i] {
					t.Fatalf("request %d: %d instructions on one host, %d on another\n%v\n%v", i, a[i], b[i], a, b)
				}
			}
			if a[0] == a[1] {
				t.Errorf("two different requests cost the same (%d): is the counter read per stream?", a[0])
			}
			t.Logf("instructions per request: %v", a)
		})
	}
}

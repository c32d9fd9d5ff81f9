package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wat compiles a WAT test module with wabt's wat2wasm (installed by
// .ci/install-deps).
func wat(t testing.TB, name string) []byte {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		if os.Getenv("NICRT_SKIP_MISSING_TOOLS") == "1" {
			t.Skip("wat2wasm not installed (NICRT_SKIP_MISSING_TOOLS=1)")
		}
		t.Fatal("wat2wasm is not installed: run .ci/install-deps (or set NICRT_SKIP_MISSING_TOOLS=1)")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("testdata", "wat", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFallbackGuard: a module the interruption rewrite refuses (it uses
// SIMD) still loads, runs, and is stopped at its deadline, by wazero's
// context watcher instead.
func TestFallbackGuard(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{CallDeadline: 100 * time.Millisecond})
	p := load(t, h, wat(t, "simdspin"), PluginConfig{PoolSize: 1})
	if p.interruptible || p.rt == h.rt {
		t.Fatal("a SIMD module was not routed to the fallback runtime")
	}
	slot := NewSlot(NewChain(p))
	ok := Fields{{":method", "GET"}, {":path", "/"}, {":authority", "x"}}
	s := slot.NewStream(StreamInfo{})
	if v := s.RequestHeaders(ctxT(t), &ok, true); v != Continue {
		t.Fatalf("verdict %v", v)
	}
	s.Close()
	spin := Fields{{":method", "GET"}, {":path", "/"}}
	s = slot.NewStream(StreamInfo{})
	v := s.RequestHeaders(ctxT(t), &spin, true)
	lr := s.LocalResponse()
	s.Close()
	if v != Respond || lr == nil || !strings.Contains(lr.Err.Error(), "deadline") {
		t.Fatalf("spinning guest: verdict %v, local %+v", v, lr)
	}
	s = slot.NewStream(StreamInfo{})
	if v := s.RequestHeaders(ctxT(t), &ok, true); v != Continue {
		t.Fatalf("after the deadline: verdict %v", v)
	}
	s.Close()
	// Counting cannot fall back: the load says why.
	if _, err := h.Load(ctxT(t), wat(t, "simdspin"), PluginConfig{Name: "c", CountInstructions: true}); err == nil || !strings.Contains(err.Error(), "SIMD") {
		t.Fatalf("counted SIMD module: %v", err)
	}
}

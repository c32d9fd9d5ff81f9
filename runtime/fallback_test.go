package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// wat compiles the WAT test module testdata/wat/NAME.wat (wasmbuild.WAT).
func wat(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "wat", name+".wat"))
	if err != nil {
		t.Fatal(err)
	}
	return wasmbuild.WAT(t, string(src))
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

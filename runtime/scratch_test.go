package runtime

import (
	"testing"
)

// TestWithoutScratch runs the data-returning host calls through the
// specification's path (the host allocates in the guest by calling
// proxy_on_memory_allocate from inside the host call), which every host
// but nicrt uses; the other tests run with nicrt's scratch extension.
func TestWithoutScratch(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	h.noScratch = true
	p := load(t, h, testGuest(t), PluginConfig{})
	if v := p.vms[0].Load(); v.scratchSize != 0 {
		t.Fatal("scratch in use")
	}
	s, v, req := run(t, p, request("headers", "x-in", "hello"), true)
	if v != Continue {
		t.Fatal(v)
	}
	wantHeader(t, req, "x-replaced", "new:hello")
	s.Close()
	s, _, _ = run(t, p, request("shared"), true)
	wantReport(t, reportOf(t, s), map[string]string{"set1": "ok", "get1": "ok", "value": "v2", "missing": errNotFound})
	s.Close()
	s, _, _ = run(t, p, request("props", "x-in", "hi"), true)
	wantReport(t, reportOf(t, s), map[string]string{"request.path": "/p?q=1", "request.headers.x-in": "hi", "mine.key": "val"})
	s.Close()
}

// TestScratchOverflow: values larger than the scratch buffer take the
// allocation path within the same VM.
func TestScratchOverflow(t *testing.T) {
	h, _ := newTestHost(t, HostConfig{})
	p := load(t, h, testGuest(t), PluginConfig{})
	big := make([]byte, scratchRequest+100)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	s, v, req := run(t, p, request("headers", "x-in", string(big)), true)
	defer s.Close()
	if v != Continue {
		t.Fatal(v)
	}
	if got := req.Value("x-replaced"); got != "new:"+string(big) {
		t.Fatalf("x-replaced has %d bytes, want %d", len(got), len(big)+4)
	}
}

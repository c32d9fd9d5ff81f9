package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/internal/wasmrun"
	"github.com/nicrt/nicrt/runtime"
)

// The tests below run filters/fault built to wasm in nicrt's runtime, where
// a paused request really waits for the VM's tick timer.

// TestRuntimeRatingsTestDelay runs Bookinfo's ratings-test-delay rule as
// written: jason's request is held at least 7 s, others are not held.
func TestRuntimeRatingsTestDelay(t *testing.T) {
	t.Parallel()
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "fault", filtertest.ReadExample(t, "fault/ratings-test-delay.json"), 2))
	ctx := wasmrun.Context(t)
	start := time.Now()
	v, _, lr := wasmrun.Do(ctx, c, wasmrun.Request("ratings:9080", "/ratings/0", "end-user", "jason"))
	held := time.Since(start)
	if v != runtime.Continue || lr != nil {
		t.Fatalf("jason: verdict %v, local response %v; want continue after the delay", v, lr)
	}
	t.Logf("jason's request held %v", held)
	if held < 7*time.Second {
		t.Errorf("jason's request was held %v, less than the rule's 7s", held)
	}
	if v, _, _ := wasmrun.Do(ctx, c, wasmrun.Request("ratings:9080", "/ratings/0", "end-user", "alice")); v != runtime.Continue {
		t.Errorf("alice: verdict %v", v)
	}
	if n := wasmrun.Metric(t, h, `nicrt_fault_delays_total{host="ratings",rule="0"}`); n != 1 {
		t.Errorf("delays counter %d, want 1", n)
	}
}

// TestRuntimeRatingsTestAbort runs Bookinfo's ratings-test-abort rule: jason
// gets a local 500 from the filter, others are forwarded.
func TestRuntimeRatingsTestAbort(t *testing.T) {
	t.Parallel()
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "fault", filtertest.ReadExample(t, "fault/ratings-test-abort.json"), 2))
	ctx := wasmrun.Context(t)
	v, _, lr := wasmrun.Do(ctx, c, wasmrun.Request("ratings", "/ratings/0", "end-user", "jason"))
	if v != runtime.Respond || lr == nil || lr.Status != 500 || string(lr.Body) != "fault filter abort" {
		t.Fatalf("jason: verdict %v, local response %+v; want a local 500", v, lr)
	}
	if ct, _ := lr.Headers.Get("content-type"); ct != "text/plain" {
		t.Errorf("content-type %q", ct)
	}
	if v, _, lr := wasmrun.Do(ctx, c, wasmrun.Request("ratings", "/ratings/0")); v != runtime.Continue || lr != nil {
		t.Errorf("anonymous: verdict %v, local response %v", v, lr)
	}
}

// TestRuntimeDelaysOverlap: paused requests do not occupy their VM — twenty
// are held at once by a pool of two VMs — and each one is released.
func TestRuntimeDelaysOverlap(t *testing.T) {
	t.Parallel()
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "fault", `{"hosts": ["*"], "fault_tick_ms": 5, "http": [
		{"fault": {"delay": {"fixedDelay": "300ms"}}, "route": [{"destination": {"host": "r"}}]}]}`, 2))
	ctx := wasmrun.Context(t)
	const n = 20
	var wg sync.WaitGroup
	verdicts := make([]runtime.Verdict, n)
	held := make([]time.Duration, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			verdicts[i], _, _ = wasmrun.Do(ctx, c, wasmrun.Request("r", "/"))
			held[i] = time.Since(start)
		}(i)
	}
	peak := int64(0)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && peak < n; time.Sleep(2 * time.Millisecond) {
		peak = max(peak, wasmrun.Metric(t, h, `nicrt_fault_delayed_requests{host="*"}`))
	}
	wg.Wait()
	if peak != n {
		t.Errorf("at most %d requests were held at once, want all %d", peak, n)
	}
	for i := range verdicts {
		if verdicts[i] != runtime.Continue || held[i] < 300*time.Millisecond {
			t.Errorf("request %d: verdict %v after %v, want continue after ≥ 300ms", i, verdicts[i], held[i])
		}
	}
}

// TestRuntimeStreamGoneWhileDelayed: a request whose client goes away
// during its delay is dropped from the filter's queue when the stream
// closes; the tick later touches nothing.
func TestRuntimeStreamGoneWhileDelayed(t *testing.T) {
	t.Parallel()
	h, logs := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "fault", `{"hosts": ["*"], "fault_tick_ms": 5, "http": [
		{"fault": {"delay": {"fixedDelay": "200ms"}}, "route": [{"destination": {"host": "r"}}]}]}`, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	s := c.NewStream(runtime.StreamInfo{})
	req := wasmrun.Request("r", "/")
	if v := s.RequestHeaders(ctx, &req, true); v != runtime.Reset {
		t.Errorf("verdict %v when the client gave up, want reset", v)
	}
	s.Close()
	if n := wasmrun.Metric(t, h, `nicrt_fault_delays_cancelled_total{host="*"}`); n != 1 {
		t.Errorf("cancelled counter %d, want 1", n)
	}
	time.Sleep(300 * time.Millisecond) // past the deadline: ticks have run
	if n := wasmrun.Metric(t, h, `nicrt_fault_resume_errors_total{host="*"}`); n != 0 {
		t.Errorf("%d resume errors: a tick touched the closed stream", n)
	}
	if g := wasmrun.Metric(t, h, `nicrt_fault_delayed_requests{host="*"}`); g != 0 {
		t.Errorf("delayed gauge %d, want 0", g)
	}
	if strings.Contains(logs.String(), "cannot resume") {
		t.Errorf("guest logged a failed resume:\n%s", logs)
	}
}

// TestRuntimeRefusesBadConfig: the runtime refuses the plugin and the
// guest's log names the field.
func TestRuntimeRefusesBadConfig(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	err := wasmrun.LoadFailing(t, h, "fault", `[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "7 seconds"}}}]`)
	if !strings.Contains(err.Error(), "http[0].fault.delay.fixedDelay: invalid duration") {
		t.Errorf("load error does not name the field: %v", err)
	}
}

package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// fakeClock is the plugin's clock in tests: time moves only when told.
type fakeClock struct{ t time.Duration }

func (c *fakeClock) now() time.Duration { return c.t }

func start(t *testing.T, cfg string) (proxytest.HostEmulator, *fakeClock) {
	clock := &fakeClock{}
	return filtertest.Start(t, &vmContext{clock: clock.now}, cfg), clock
}

func jason(authority string) [][2]string {
	return filtertest.Headers(authority, "/ratings/0", "end-user", "jason")
}

// TestRatingsTestDelay runs Bookinfo's ratings-test-delay rule: jason's
// requests are paused and resumed by the first tick at or after 7 s; others
// go through at once.
func TestRatingsTestDelay(t *testing.T) {
	host, clock := start(t, filtertest.ReadExample(t, "fault/ratings-test-delay.json"))
	if p := host.GetTickPeriod(); p != 10 {
		t.Fatalf("tick period %d ms, want the default 10", p)
	}
	id, action := filtertest.Send(host, jason("ratings:9080"))
	if action != types.ActionPause {
		t.Fatalf("jason's request: action %v, want pause", action)
	}
	other, action := filtertest.Send(host, filtertest.Headers("ratings:9080", "/ratings/0", "end-user", "alice"))
	if action != types.ActionContinue {
		t.Errorf("alice's request: action %v, want continue", action)
	}
	host.CompleteHttpContext(other)
	if _, action := filtertest.Send(host, jason("details:9080")); action != types.ActionContinue {
		t.Errorf("jason's request to details: action %v, want continue", action)
	}
	for _, at := range []time.Duration{0, time.Second, 6999 * time.Millisecond} {
		clock.t = at
		host.Tick()
		if a := host.GetCurrentHttpStreamAction(id); a != types.ActionPause {
			t.Fatalf("at %v: stream resumed early (action %v)", at, a)
		}
	}
	clock.t = 7 * time.Second
	host.Tick()
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Fatalf("at 7s: stream still paused")
	}
	if host.GetSentLocalResponse(id) != nil {
		t.Error("a delayed request got a local response")
	}
	host.CompleteHttpContext(id)
	if n := filtertest.Counter(t, host, `nicrt_fault_delays_total{host="ratings",rule="0"}`); n != 1 {
		t.Errorf("delays counter %d, want 1", n)
	}
	if n := filtertest.Gauge(t, host, `nicrt_fault_delayed_requests{host="ratings"}`); n != 0 {
		t.Errorf("delayed gauge %d, want 0", n)
	}
}

// TestRatingsTestAbort runs Bookinfo's ratings-test-abort rule: jason gets a
// local 500, others go through.
func TestRatingsTestAbort(t *testing.T) {
	host, _ := start(t, filtertest.ReadExample(t, "fault/ratings-test-abort.json"))
	if p := host.GetTickPeriod(); p != 0 {
		t.Errorf("tick period %d ms for a configuration without delays, want none", p)
	}
	id, action := filtertest.Send(host, jason("ratings"))
	if action != types.ActionPause {
		t.Errorf("action %v, want pause after a local response", action)
	}
	resp := host.GetSentLocalResponse(id)
	if resp == nil || resp.StatusCode != 500 || string(resp.Data) != "fault filter abort" {
		t.Fatalf("local response %+v, want 500 \"fault filter abort\"", resp)
	}
	if ct, _ := filtertest.Get(resp.Headers, "content-type"); ct != "text/plain" {
		t.Errorf("content-type %q", ct)
	}
	other, action := filtertest.Send(host, filtertest.Headers("ratings", "/ratings/0"))
	if action != types.ActionContinue || host.GetSentLocalResponse(other) != nil {
		t.Errorf("anonymous request: action %v, local response %v", action, host.GetSentLocalResponse(other))
	}
	if n := filtertest.Counter(t, host, `nicrt_fault_aborts_total{host="ratings",rule="0"}`); n != 1 {
		t.Errorf("aborts counter %d, want 1", n)
	}
}

// TestDelayThenAbort: with both faults drawn the request waits, then gets the
// local response from the tick.
func TestDelayThenAbort(t *testing.T) {
	host, clock := start(t, `[{"fault": {"delay": {"fixedDelay": "100ms"}, "abort": {"httpStatus": 503}}, "route": [{"destination": {"host": "r"}}]}]`)
	id, action := filtertest.Send(host, filtertest.Headers("r", "/"))
	if action != types.ActionPause || host.GetSentLocalResponse(id) != nil {
		t.Fatalf("before the delay: action %v, response %v", action, host.GetSentLocalResponse(id))
	}
	clock.t = 100 * time.Millisecond
	host.Tick()
	if r := host.GetSentLocalResponse(id); r == nil || r.StatusCode != 503 {
		t.Fatalf("after the delay: response %+v, want 503", r)
	}
}

// TestStreamEndsWhileDelayed: a stream reset during its delay leaves the
// queue at once and is never resumed.
func TestStreamEndsWhileDelayed(t *testing.T) {
	host, clock := start(t, `{"hosts": ["r"], "http": [{"fault": {"delay": {"fixedDelay": "1s"}}, "route": [{"destination": {"host": "r"}}]}]}`)
	gone, _ := filtertest.Send(host, filtertest.Headers("r", "/"))
	kept, _ := filtertest.Send(host, filtertest.Headers("r", "/"))
	host.CompleteHttpContext(gone)
	if n := filtertest.Counter(t, host, `nicrt_fault_delays_cancelled_total{host="r"}`); n != 1 {
		t.Errorf("cancelled counter %d, want 1", n)
	}
	if n := filtertest.Gauge(t, host, `nicrt_fault_delayed_requests{host="r"}`); n != 1 {
		t.Errorf("delayed gauge %d, want 1", n)
	}
	clock.t = time.Second
	host.Tick()
	if a := host.GetCurrentHttpStreamAction(kept); a != types.ActionContinue {
		t.Error("surviving stream not resumed")
	}
	if a := host.GetCurrentHttpStreamAction(gone); a != types.ActionPause {
		t.Error("the tick resumed the stream that had ended")
	}
	if n := filtertest.Gauge(t, host, `nicrt_fault_delayed_requests{host="r"}`); n != 0 {
		t.Errorf("delayed gauge %d after the tick, want 0", n)
	}
	if n := filtertest.Counter(t, host, `nicrt_fault_resume_errors_total{host="r"}`); n != 0 {
		t.Errorf("%d resume errors: the tick touched the ended stream", n)
	}
}

// TestDeadlinesInOrder: requests with different delays are each resumed by
// the first tick at or after their own deadline.
func TestDeadlinesInOrder(t *testing.T) {
	host, clock := start(t, `{"hosts": ["*"], "fault_tick_ms": 5, "http": [
	 {"match": [{"uri": {"exact": "/slow"}}], "fault": {"delay": {"fixedDelay": "300ms"}}, "route": [{"destination": {"host": "r"}}]},
	 {"match": [{"uri": {"exact": "/fast"}}], "fault": {"delay": {"fixedDelay": "100ms"}}, "route": [{"destination": {"host": "r"}}]}]}`)
	if p := host.GetTickPeriod(); p != 5 {
		t.Errorf("tick period %d, want 5", p)
	}
	slow, _ := filtertest.Send(host, filtertest.Headers("r", "/slow"))
	clock.t = 50 * time.Millisecond
	fast, _ := filtertest.Send(host, filtertest.Headers("r", "/fast")) // deadline 150ms
	for _, step := range []struct {
		at         time.Duration
		slow, fast types.Action
	}{
		{149 * time.Millisecond, types.ActionPause, types.ActionPause},
		{150 * time.Millisecond, types.ActionPause, types.ActionContinue},
		{299 * time.Millisecond, types.ActionPause, types.ActionContinue},
		{305 * time.Millisecond, types.ActionContinue, types.ActionContinue},
	} {
		clock.t = step.at
		host.Tick()
		if a, b := host.GetCurrentHttpStreamAction(slow), host.GetCurrentHttpStreamAction(fast); a != step.slow || b != step.fast {
			t.Errorf("at %v: slow %v fast %v, want %v %v", step.at, a, b, step.slow, step.fast)
		}
	}
}

// TestPluginDoneReleasesDelayed: when the plugin goes away, paused requests
// are let go instead of hanging forever.
func TestPluginDoneReleasesDelayed(t *testing.T) {
	host, _ := start(t, `[{"fault": {"delay": {"fixedDelay": "1h"}}, "route": [{"destination": {"host": "r"}}]}]`)
	id, _ := filtertest.Send(host, filtertest.Headers("r", "/"))
	host.FinishVM()
	if a := host.GetCurrentHttpStreamAction(id); a != types.ActionContinue {
		t.Error("delayed request not released at plugin end")
	}
}

// TestPercentages: abort 25% and delay 10% of requests, each within 1.5
// percentage points over 20000 seeded requests (> 4σ).
func TestPercentages(t *testing.T) {
	host, _ := start(t, `{"hosts": ["*"], "random_seed": 11, "http": [{"fault": {
		"abort": {"httpStatus": 503, "percentage": {"value": 25}},
		"delay": {"fixedDelay": "1s", "percentage": {"value": 10}}}, "route": [{"destination": {"host": "r"}}]}]}`)
	const n = 20000
	aborted, delayed := 0, 0
	for i := 0; i < n; i++ {
		id, action := filtertest.Send(host, filtertest.Headers("r", "/"))
		switch {
		case host.GetSentLocalResponse(id) != nil:
			aborted++
		case action == types.ActionPause:
			delayed++
		}
		host.CompleteHttpContext(id)
	}
	// Delayed requests that also drew the abort are aborted only after their
	// delay, so the immediate aborts are 25% of the 90% not delayed.
	for _, c := range []struct {
		what      string
		got       int
		want, tol float64
	}{{"aborted at once", aborted, .25 * .9, .015}, {"delayed", delayed, .10, .015}} {
		if obs := float64(c.got) / n; math.Abs(obs-c.want) > c.tol {
			t.Errorf("%s: %.4f of requests, want %.4f ± %.3f", c.what, obs, c.want, c.tol)
		}
	}
}

// TestNoFaultRulePasses: a matched rule without fault, placed first, shields
// the request from a later rule's fault (first match wins).
func TestNoFaultRulePasses(t *testing.T) {
	host, _ := start(t, `[
	 {"match": [{"headers": {"x-safe": {}}}], "route": [{"destination": {"host": "r"}}]},
	 {"fault": {"abort": {"httpStatus": 500}}, "route": [{"destination": {"host": "r"}}]}]`)
	if id, a := filtertest.Send(host, filtertest.Headers("r", "/", "x-safe", "1")); a != types.ActionContinue || host.GetSentLocalResponse(id) != nil {
		t.Error("request matching the fault-free first rule was faulted")
	}
	if id, _ := filtertest.Send(host, filtertest.Headers("r", "/")); host.GetSentLocalResponse(id) == nil {
		t.Error("request matching the faulty rule was not aborted")
	}
}

// TestConfigErrors: fault reads the route filter's format; a few of its own
// fields are checked here (package istio and the route filter cover the rest).
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, field string }{
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "2h"}}}]`, "http[0].fault.delay.fixedDelay: duration 2h is more than"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "1s", "exponentialDelay": "1s"}}}]`, "http[0].fault.delay.exponentialDelay: not supported"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"abort": {"httpStatus": 500, "percentage": {"val": 5}}}}]`, "http[0].fault.abort.percentage.val: unknown field"},
		{`{"hosts": ["r"], "fault_tick_ms": 5000, "http": [{"route": [{"destination": {"host": "r"}}]}]}`, "fault_tick_ms: 5000 is out of range"},
	} {
		logs := filtertest.StartFailing(t, &vmContext{}, tc.cfg)
		if !strings.Contains(strings.Join(logs, "\n"), tc.field) {
			t.Errorf("config %s\nerror logs %q\ndo not name %q", tc.cfg, logs, tc.field)
		}
	}
}

// TestQueueOrder checks the delay queue against sorting, with removals.
func TestQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q delayQueue
	var live []*httpContext
	for i := 0; i < 2000; i++ {
		if len(live) > 0 && r.IntN(3) == 0 {
			k := r.IntN(len(live))
			q.Remove(live[k])
			live = slices.Delete(live, k, k+1)
			continue
		}
		h := &httpContext{deadline: time.Duration(r.IntN(500))}
		q.Push(h)
		live = append(live, h)
	}
	slices.SortStableFunc(live, func(a, b *httpContext) int { return int(a.deadline - b.deadline) })
	for i := range live {
		if got := q.Pop(); got.deadline != live[i].deadline || got.heapIndex != -1 {
			t.Fatalf("pop %d: deadline %v, want %v", i, got.deadline, live[i].deadline)
		}
	}
	if q.Len() != 0 {
		t.Fatal("queue not empty")
	}
}

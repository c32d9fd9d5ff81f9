package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/internal/wasmrun"
	"github.com/nicrt/nicrt/runtime"
)

// The tests below run filters/lb built to wasm in nicrt's runtime, with a
// pool of VMs that share nothing but the host's shared data.

func routed(t *testing.T, c *runtime.Chain, req runtime.Fields) string {
	t.Helper()
	v, out, _ := wasmrun.Do(wasmrun.Context(t), c, req)
	if v != runtime.Continue {
		t.Fatalf("verdict %v", v)
	}
	cl, _ := out.Get(clusterHeader)
	return cl
}

// TestRuntimeRoundRobinAcrossVMs: the runtime spreads requests over 4 VMs,
// yet the clusters follow one round-robin sequence, and under concurrent
// load every cluster gets exactly its share — no position is lost or taken
// twice, which only the CAS updates of shared data can ensure.
func TestRuntimeRoundRobinAcrossVMs(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	p := wasmrun.Load(t, h, "lb", filtertest.ReadExample(t, "lb/reviews-round-robin.json"), 4)
	c := runtime.NewChain(p)
	for i := 0; i < 12; i++ {
		if got := routed(t, c, wasmrun.Request("reviews:9080", "/reviews/0")); got != reviews[i%3] {
			t.Fatalf("request %d went to %s, want %s", i, got, reviews[i%3])
		}
	}
	const workers, each = 6, 150
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := wasmrun.Context(t)
			for i := 0; i < each; i++ {
				_, out, _ := wasmrun.Do(ctx, c, wasmrun.Request("reviews", "/"))
				cl, _ := out.Get(clusterHeader)
				mu.Lock()
				count[cl]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, cl := range reviews {
		if count[cl] != workers*each/3 {
			t.Errorf("concurrent requests per cluster %v, want %d each", count, workers*each/3)
			break
		}
	}
	if n := wasmrun.Metric(t, h, `nicrt_lb_requests_total{service="reviews",cluster="reviews-v1"}`); n != 4+workers*each/3 {
		t.Errorf("reviews-v1 counter %d, want %d", n, 4+workers*each/3)
	}
}

// TestRuntimeLeastRequest: in-flight counts taken in different VMs steer
// the choice, and closing streams — completed or reset — gives them back.
func TestRuntimeLeastRequest(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	p := wasmrun.Load(t, h, "lb", filtertest.ReadExample(t, "lb/reviews-least-request.json"), 3)
	c := runtime.NewChain(p)
	ctx := wasmrun.Context(t)
	var open []*runtime.Stream
	seen := map[string]int{}
	for i := 0; i < 6; i++ { // six concurrent streams over three clusters: two each
		s := c.NewStream(runtime.StreamInfo{})
		req := wasmrun.Request("reviews", "/")
		if v := s.RequestHeaders(ctx, &req, true); v != runtime.Continue {
			t.Fatal(v)
		}
		cl, _ := req.Get(clusterHeader)
		seen[cl]++
		open = append(open, s)
	}
	if fmt.Sprint(seen) != "map[reviews-v1:2 reviews-v2:2 reviews-v3:2]" {
		t.Errorf("six open streams spread %v, want two per cluster", seen)
	}
	gauges := func() string {
		var g []string
		for _, cl := range reviews {
			g = append(g, fmt.Sprint(wasmrun.Metric(t, h, fmt.Sprintf(`nicrt_lb_in_flight{service="reviews",cluster="%s"}`, cl))))
		}
		return strings.Join(g, ",")
	}
	if g := gauges(); g != "2,2,2" {
		t.Errorf("in-flight gauges %s, want 2,2,2", g)
	}
	for i, s := range open {
		if i%2 == 0 { // half complete with a response, half are reset without one
			resp := runtime.Fields{{Name: ":status", Value: "200"}}
			s.ResponseHeaders(ctx, &resp, true)
		}
		s.Close()
	}
	if g := gauges(); g != "0,0,0" {
		t.Errorf("after every stream ended: in-flight %s, want 0,0,0", g)
	}
}

// TestRuntimeRingHash: a user sticks to one cluster whichever VM serves it.
func TestRuntimeRingHash(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	p := wasmrun.Load(t, h, "lb", filtertest.ReadExample(t, "lb/reviews-ring-hash.json"), 3)
	c := runtime.NewChain(p)
	clusters := map[string]bool{}
	for u := 0; u < 30; u++ {
		user := fmt.Sprint("user-", u)
		first := routed(t, c, wasmrun.Request("reviews", "/", "end-user", user))
		clusters[first] = true
		for i := 0; i < 5; i++ {
			if got := routed(t, c, wasmrun.Request("reviews", "/", "end-user", user)); got != first {
				t.Fatalf("%s went to %s, then %s", user, first, got)
			}
		}
	}
	if len(clusters) < 2 {
		t.Errorf("30 users all hashed to %v", clusters)
	}
}

// TestRuntimeSkipsOtherServices: a request for details is left untouched.
func TestRuntimeSkipsOtherServices(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "lb", filtertest.ReadExample(t, "lb/reviews-round-robin.json"), 1))
	in := wasmrun.Request("details:9080", "/details/0")
	_, out, _ := wasmrun.Do(wasmrun.Context(t), c, in.Clone())
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("headers changed: %v", out)
	}
}

// TestRuntimeRefusesBadConfig: the runtime refuses to load the filter, and
// the guest's log names the bad field.
func TestRuntimeRefusesBadConfig(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	err := wasmrun.LoadFailing(t, h, "lb", `{"service": "reviews", "policy": "fastest", "clusters": ["a"]}`)
	if !strings.Contains(err.Error(), `policy: unknown policy "fastest"`) {
		t.Errorf("load error does not name the field: %v", err)
	}
}

package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestRuntimeSplits: random and weighted through the runtime, on a pool of
// two VMs, share requests within 3.5 percentage points over 4000 seeded
// requests (≥ 4.4σ for these splits).
func TestRuntimeSplits(t *testing.T) {
	const n, tolerance = 4000, 0.035
	h, _ := wasmrun.NewHost(t)
	for _, tc := range []struct {
		name, cfg string
		want      map[string]float64
	}{
		{"random", `{"service": "reviews", "policy": "random", "random_seed": 5, "clusters": ["reviews-v1", "reviews-v2", "reviews-v3"]}`,
			map[string]float64{"reviews-v1": 1. / 3, "reviews-v2": 1. / 3, "reviews-v3": 1. / 3}},
		{"weighted", strings.Replace(filtertest.ReadExample(t, "lb/reviews-weighted-90-10.json"), "{", `{"random_seed": 3,`, 1),
			map[string]float64{"reviews-v1": .9, "reviews-v2": .1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := wasmrun.Load(t, h, "lb", tc.cfg, 2)
			defer p.Close()
			c := runtime.NewChain(p)
			got := map[string]int{}
			for i := 0; i < n; i++ {
				got[routed(t, c, wasmrun.Request("reviews:9080", "/reviews/0"))]++
			}
			for cl, want := range tc.want {
				if share := float64(got[cl]) / n; share < want-tolerance || share > want+tolerance {
					t.Errorf("%s got %.3f of %d requests, want %.3f ± %.3f (%v)", cl, share, n, want, tolerance, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("requests went to %v", got)
			}
		})
	}
}

// TestRuntimeLeastRequestStreamsEndingEarly: streams that end without ever
// reaching the upstream — answered locally by a later filter, or given up
// by the client while a later filter held them — give their in-flight
// counts back, in a chain lb → fault as a sidecar would run it.
func TestRuntimeLeastRequestStreamsEndingEarly(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	lb := wasmrun.Load(t, h, "lb", filtertest.ReadExample(t, "lb/reviews-least-request.json"), 2)
	fault := wasmrun.Load(t, h, "fault", `{"hosts": ["reviews"], "http": [
		{"match": [{"headers": {"end-user": {"exact": "aborted"}}}], "fault": {"abort": {"httpStatus": 503}}, "route": [{"destination": {"host": "reviews"}}]},
		{"match": [{"headers": {"end-user": {"exact": "held"}}}], "fault": {"delay": {"fixedDelay": "1h"}}, "route": [{"destination": {"host": "reviews"}}]},
		{"route": [{"destination": {"host": "reviews"}}]}]}`, 1)
	c := runtime.NewChain(lb, fault)
	inFlight := func() string {
		var g []string
		for _, cl := range reviews {
			g = append(g, fmt.Sprint(wasmrun.Metric(t, h, fmt.Sprintf(`nicrt_lb_in_flight{service="reviews",cluster="%s"}`, cl))))
		}
		return strings.Join(g, ",")
	}
	for i := 0; i < 4; i++ {
		v, out, lr := wasmrun.Do(wasmrun.Context(t), c, wasmrun.Request("reviews", "/", "end-user", "aborted"))
		if _, chosen := out.Get(clusterHeader); v != runtime.Respond || lr == nil || lr.Status != 503 || !chosen {
			t.Fatalf("verdict %v, local response %+v, cluster chosen %v; want lb's choice, then fault's 503", v, lr, chosen)
		}
	}
	if g := inFlight(); g != "0,0,0" {
		t.Errorf("after 4 locally answered streams: in-flight %s, want 0,0,0", g)
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		s := c.NewStream(runtime.StreamInfo{})
		req := wasmrun.Request("reviews", "/", "end-user", "held")
		if v := s.RequestHeaders(ctx, &req, true); v != runtime.Reset {
			t.Errorf("verdict %v when the client gave up, want reset", v)
		}
		cancel()
		if i == 0 {
			if g := inFlight(); g == "0,0,0" {
				t.Errorf("a held stream is not counted in flight")
			}
		}
		s.Close()
	}
	if g := inFlight(); g != "0,0,0" {
		t.Errorf("after 3 streams given up while held: in-flight %s, want 0,0,0", g)
	}
	// Nothing leaked into the shared counts either: the next three
	// concurrent streams still spread one per cluster.
	seen := map[string]bool{}
	var open []*runtime.Stream
	for i := 0; i < 3; i++ {
		s := c.NewStream(runtime.StreamInfo{})
		req := wasmrun.Request("reviews", "/")
		s.RequestHeaders(wasmrun.Context(t), &req, true)
		cl, _ := req.Get(clusterHeader)
		seen[cl] = true
		open = append(open, s)
	}
	for _, s := range open {
		s.Close()
	}
	if len(seen) != 3 {
		t.Errorf("three concurrent streams went to %v, want one per cluster", seen)
	}
}

// TestRuntimeCustomHeader: the routing header's name comes from the
// configuration, and every Kubernetes spelling of the service is balanced.
func TestRuntimeCustomHeader(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "lb", `{"service": "reviews", "clusters": ["a"], "cluster_header": "X-Upstream"}`, 1))
	for _, a := range []string{"reviews", "reviews.default:9080", "reviews.bookinfo.svc.cluster.local"} {
		_, out, _ := wasmrun.Do(wasmrun.Context(t), c, wasmrun.Request(a, "/"))
		if cl, _ := out.Get("x-upstream"); cl != "a" {
			t.Errorf("%s: x-upstream %q, want a", a, cl)
		}
		if _, ok := out.Get(clusterHeader); ok {
			t.Errorf("%s: the default header was written too", a)
		}
	}
}

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/internal/wasmrun"
	"github.com/nicrt/nicrt/runtime"
)

// runtimeN and runtimeTolerance bound the weighted examples in the runtime:
// 4000 seeded requests, shares within 3.5 percentage points (≥ 4.4σ).
const (
	runtimeN         = 4000
	runtimeTolerance = 0.035
)

// TestRuntimeBookinfoRules runs every Bookinfo rule with filters/route built
// to wasm in nicrt's runtime (a pool of 2 VMs) and checks it routes as
// Istio would, as TestBookinfoRules does under the emulator.
func TestRuntimeBookinfoRules(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	for _, tc := range []struct {
		file             string
		jason, anonymous map[string]float64
	}{
		{"route/reviews-v3.json", map[string]float64{"reviews-v3": 1}, map[string]float64{"reviews-v3": 1}},
		{"route/reviews-jason-v2-v3.json", map[string]float64{"reviews-v2": 1}, map[string]float64{"reviews-v3": 1}},
		{"route/reviews-test-v2.json", map[string]float64{"reviews-v2": 1}, map[string]float64{"reviews-v1": 1}},
		{"route/reviews-50-v3.json", nil, map[string]float64{"reviews-v1": .5, "reviews-v3": .5}},
		{"route/reviews-90-10.json", nil, map[string]float64{"reviews-v1": .9, "reviews-v2": .1}},
		{"route/reviews-80-20.json", nil, map[string]float64{"reviews-v1": .8, "reviews-v2": .2}},
		{"route/reviews-v2-v3.json", nil, map[string]float64{"reviews-v2": .5, "reviews-v3": .5}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := wasmrun.Load(t, h, "route", seeded(t, tc.file, 42), 2)
			defer p.Close()
			c := runtime.NewChain(p)
			ctx := wasmrun.Context(t)
			for _, who := range []struct {
				user string
				want map[string]float64
			}{{"jason", tc.jason}, {"", tc.anonymous}} {
				if who.want == nil {
					continue
				}
				n := runtimeN
				if len(who.want) == 1 {
					n = 50
				}
				got := map[string]int{}
				for i := 0; i < n; i++ {
					req := wasmrun.Request("reviews:9080", "/reviews/0")
					if who.user != "" {
						req = append(req, runtime.Field{Name: "end-user", Value: who.user})
					}
					v, out, _ := wasmrun.Do(ctx, c, req)
					cl, ok := out.Get(clusterHeader)
					if v != runtime.Continue || !ok {
						t.Fatalf("user %q: verdict %v, routing header present %v", who.user, v, ok)
					}
					got[cl]++
				}
				for cl, g := range got {
					share := float64(g) / float64(n)
					want := who.want[cl]
					if want == 1 && g != n || share < want-runtimeTolerance || share > want+runtimeTolerance {
						t.Errorf("user %q: %s got %.3f of %d requests, want %.2f ± %.3f (%v)", who.user, cl, share, n, want, runtimeTolerance, got)
					}
				}
			}
		})
	}
}

// TestRuntimeMatchKinds: every match kind, through the runtime.
func TestRuntimeMatchKinds(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "route", matchKindsConfig, 2))
	for _, tc := range matchKindsCases {
		req := wasmrun.Request("svc:80", tc.path, tc.kv...)
		req[0].Value = tc.method
		_, out, _ := wasmrun.Do(wasmrun.Context(t), c, req)
		if got, _ := out.Get(clusterHeader); got != tc.want {
			t.Errorf("%s %s %v: routed to %q, want %q", tc.method, tc.path, tc.kv, got, tc.want)
		}
	}
	if n := wasmrun.Metric(t, h, `nicrt_route_requests_total{host="svc",rule="exact-uri",cluster="svc-exact"}`); n != 2 {
		t.Errorf("exact-uri counter %d, want 2", n)
	}
}

// TestRuntimeUnmatchedAndMetrics: requests for other hosts pass untouched,
// and the counters the host exposes count what happened.
func TestRuntimeUnmatchedAndMetrics(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	c := runtime.NewChain(wasmrun.Load(t, h, "route", filtertest.ReadExample(t, "route/reviews-jason-v2-v3.json"), 2))
	ctx := wasmrun.Context(t)
	in := wasmrun.Request("details:9080", "/details/0", "end-user", "jason")
	if _, out, _ := wasmrun.Do(ctx, c, in.Clone()); fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("details request changed: %v", out)
	}
	for i := 0; i < 3; i++ {
		wasmrun.Do(ctx, c, wasmrun.Request("reviews.default.svc.cluster.local", "/", "end-user", "jason"))
	}
	if n := wasmrun.Metric(t, h, `nicrt_route_requests_total{host="reviews",rule="0",cluster="reviews-v2"}`); n != 3 {
		t.Errorf("jason's counter %d, want 3", n)
	}
	if n := wasmrun.Metric(t, h, `nicrt_route_unmatched_total{host="reviews"}`); n != 1 {
		t.Errorf("unmatched counter %d, want 1", n)
	}
}

// TestRuntimeRefusesBadConfig: the runtime refuses the plugin and the
// guest's log names the field.
func TestRuntimeRefusesBadConfig(t *testing.T) {
	h, _ := wasmrun.NewHost(t)
	err := wasmrun.LoadFailing(t, h, "route", `[{"route": [{"destination": {"host": "r", "subset": "a"}, "weight": 60}, {"destination": {"host": "r", "subset": "b"}, "weight": 30}]}]`)
	if !strings.Contains(err.Error(), "http[0].route: destination weights sum to 90") {
		t.Errorf("load error does not name the field: %v", err)
	}
}

package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

const clusterHeader = "x-nicrt-cluster"

var reviews = []string{"reviews-v1", "reviews-v2", "reviews-v3"}

func route(host proxytest.HostEmulator, headers [][2]string) string {
	c, _ := filtertest.Route(host, clusterHeader, headers)
	return c
}

func reviewsReq(kv ...string) [][2]string {
	return filtertest.Headers("reviews:9080", "/reviews/0", kv...)
}

// TestRoundRobinExample: the examples/lb round-robin configuration cycles
// v1, v2, v3 and counts each cluster; other services pass untouched.
func TestRoundRobinExample(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, filtertest.ReadExample(t, "lb/reviews-round-robin.json"))
	var got []string
	for i := 0; i < 7; i++ {
		got = append(got, route(host, reviewsReq()))
	}
	want := "reviews-v1 reviews-v2 reviews-v3 reviews-v1 reviews-v2 reviews-v3 reviews-v1"
	if strings.Join(got, " ") != want {
		t.Errorf("sequence %v, want %s", got, want)
	}
	if c, ok := filtertest.Route(host, clusterHeader, filtertest.Headers("details:9080", "/details/0")); ok {
		t.Errorf("details request routed to %q", c)
	}
	for i, want := range []uint64{3, 2, 2} {
		if n := filtertest.Counter(t, host, fmt.Sprintf(`nicrt_lb_requests_total{service="reviews",cluster="%s"}`, reviews[i])); n != want {
			t.Errorf("%s counter %d, want %d", reviews[i], n, want)
		}
	}
	if n := filtertest.Counter(t, host, `nicrt_lb_skipped_total{service="reviews"}`); n != 1 {
		t.Errorf("skipped counter %d, want 1", n)
	}
}

// TestRoundRobinAcrossPluginInstances: two plugin contexts, as two VMs of a
// pool would have, share one sequence through the host's shared data. The
// proxytest emulator drives only one plugin context, so the second is
// created from the same VM context type and started by hand against the
// same emulated host; it shares no Go state with the first, exactly like a
// separate VM, only the host's shared data.
func TestRoundRobinAcrossPluginInstances(t *testing.T) {
	cfg := filtertest.ReadExample(t, "lb/reviews-round-robin.json")
	host := filtertest.Start(t, &vmContext{}, cfg)
	other := (&vmContext{}).NewPluginContext(99).(*pluginContext)
	if other.OnPluginStart(len(cfg)) != types.OnPluginStartStatusOK {
		t.Fatal("second plugin context refused the configuration")
	}
	var got []string
	for i := 0; i < 9; i++ {
		if i%3 == 1 {
			idx, _ := other.choose()
			got = append(got, reviews[idx])
			continue
		}
		got = append(got, route(host, reviewsReq()))
	}
	for i, c := range got {
		if c != reviews[i%3] {
			t.Fatalf("interleaved sequence %v is not one round robin", got)
		}
	}
}

// interfere makes the next store of s fail once with a CAS conflict: just
// before it, another VM changes the value with change (applied to the
// decoded counters) and writes it with its own token.
func interfere(t *testing.T, s *sharedCounters, change func(c []uint64)) {
	s.beforeStore = func() {
		s.beforeStore = nil
		val, cas, err := proxywasm.GetSharedData(s.key)
		if err != nil {
			t.Fatal(err)
		}
		c := make([]uint64, len(val)/8)
		for i := range c {
			c[i] = binary.LittleEndian.Uint64(val[8*i:])
		}
		change(c)
		val = make([]byte, 8*len(c))
		for i, v := range c {
			binary.LittleEndian.PutUint64(val[8*i:], v)
		}
		if err := proxywasm.SetSharedData(s.key, val, cas); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoundRobinCASConflict: when another VM updates the counter between
// this VM's read and write, the write fails with a CAS mismatch and the
// filter retries on the fresh value instead of reusing a position.
func TestRoundRobinCASConflict(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, filtertest.ReadExample(t, "lb/reviews-round-robin.json"))
	route(host, reviewsReq()) // position 0 → v1; the counter is now 1
	p := (&vmContext{}).NewPluginContext(7).(*pluginContext)
	cfg := filtertest.ReadExample(t, "lb/reviews-round-robin.json")
	p.OnPluginStart(len(cfg))
	interfere(t, p.rr, func(c []uint64) { c[0]++ }) // another VM takes position 1 behind our back
	if idx, _ := p.choose(); reviews[idx] != "reviews-v3" {
		t.Errorf("chose %s, want reviews-v3 (position 2) after the conflict", reviews[idx])
	}
	if p.rr.beforeStore != nil {
		t.Fatal("the conflict was not played")
	}
	if n := filtertest.Counter(t, host, `nicrt_lb_cas_retries_total{service="reviews"}`); n != 1 {
		t.Errorf("CAS retries %d, want 1", n)
	}
	if got := route(host, reviewsReq()); got != "reviews-v1" { // position 3
		t.Errorf("next request went to %s, want reviews-v1", got)
	}
}

// TestLeastRequestCASConflict: a conflict while taking or giving back an
// in-flight count is retried on the fresh counts, so neither this VM's
// count nor the other VM's is lost.
func TestLeastRequestCASConflict(t *testing.T) {
	cfg := filtertest.ReadExample(t, "lb/reviews-least-request.json")
	filtertest.Start(t, &vmContext{}, cfg)
	p := (&vmContext{}).NewPluginContext(7).(*pluginContext)
	p.OnPluginStart(len(cfg))
	// Another VM sends two requests to v1 and one to v3 while this one
	// chooses: the retry sees v2 as the only idle cluster.
	interfere(t, p.lr, func(c []uint64) { c[0] += 2; c[2]++ })
	idx, accounted := p.acquireLeast()
	if !accounted || reviews[idx] != "reviews-v2" {
		t.Fatalf("acquired %s (accounted %v), want reviews-v2 after the conflict", reviews[idx], accounted)
	}
	if counts, _ := p.lr.read(); fmt.Sprint(counts) != "[2 1 1]" {
		t.Fatalf("counts %v after the conflicting acquire, want [2 1 1]", counts)
	}
	// The other VM's v1 request ends while this VM releases v2.
	interfere(t, p.lr, func(c []uint64) { c[0]-- })
	p.release(idx)
	if counts, _ := p.lr.read(); fmt.Sprint(counts) != "[1 0 1]" {
		t.Errorf("counts %v after the conflicting release, want [1 0 1]", counts)
	}
	if p.lr.beforeStore != nil {
		t.Fatal("the conflict was not played")
	}
}

// TestSharedDataKeepsConflicting: when every write loses to another VM, a
// choice gives up after chooseTries attempts and falls back — round robin
// to the VM's own sequence, least_request to a random cluster without an
// in-flight count — and counts it.
func TestSharedDataKeepsConflicting(t *testing.T) {
	for _, tc := range []struct {
		example string
		shared  func(p *pluginContext) *sharedCounters
	}{
		{"lb/reviews-round-robin.json", func(p *pluginContext) *sharedCounters { return p.rr }},
		{"lb/reviews-least-request.json", func(p *pluginContext) *sharedCounters { return p.lr }},
	} {
		t.Run(tc.example, func(t *testing.T) {
			cfg := filtertest.ReadExample(t, tc.example)
			host := filtertest.Start(t, &vmContext{}, cfg)
			p := (&vmContext{}).NewPluginContext(7).(*pluginContext)
			p.OnPluginStart(len(cfg))
			sc := tc.shared(p)
			var always func()
			always = func() {
				interfere(t, sc, func(c []uint64) { c[0]++ })
				sc.beforeStore()        // plays the conflict and clears the hook...
				sc.beforeStore = always // ...which comes back for the next write
			}
			sc.beforeStore = always
			var got []string
			for i := 0; i < 3; i++ {
				idx, accounted := p.choose()
				if accounted {
					t.Errorf("choice %d took an in-flight count although no write succeeded", i)
				}
				got = append(got, reviews[idx])
			}
			if tc.shared(p) == p.rr && strings.Join(got, " ") != "reviews-v1 reviews-v2 reviews-v3" {
				t.Errorf("fallback sequence %v, want the VM's own round robin", got)
			}
			if n := filtertest.Counter(t, host, `nicrt_lb_shared_data_errors_total{service="reviews"}`); n != 3 {
				t.Errorf("shared-data errors %d, want 3", n)
			}
			if n := filtertest.Counter(t, host, `nicrt_lb_cas_retries_total{service="reviews"}`); n != 3*chooseTries {
				t.Errorf("CAS retries %d, want %d", n, 3*chooseTries)
			}
		})
	}
}

// splitTolerance: shares over splitN seeded requests must be within 1.5
// percentage points of the target (> 4σ for every split here).
const (
	splitN         = 20000
	splitTolerance = 0.015
)

func shares(t *testing.T, host proxytest.HostEmulator, n int, want map[string]float64) {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		got[route(host, reviewsReq())]++
	}
	for c, g := range got {
		if math.Abs(float64(g)/float64(n)-want[c]) > splitTolerance {
			t.Errorf("%s: %.4f of %d requests, want %.3f ± %.3f (all: %v)", c, float64(g)/float64(n), n, want[c], splitTolerance, got)
		}
	}
}

func TestRandom(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, `{"service": "reviews", "policy": "random", "random_seed": 5, "clusters": ["reviews-v1", "reviews-v2", "reviews-v3"]}`)
	shares(t, host, splitN, map[string]float64{"reviews-v1": 1. / 3, "reviews-v2": 1. / 3, "reviews-v3": 1. / 3})
}

func TestWeighted(t *testing.T) {
	cfg := strings.Replace(filtertest.ReadExample(t, "lb/reviews-weighted-90-10.json"), "{", `{"random_seed": 3,`, 1)
	host := filtertest.Start(t, &vmContext{}, cfg)
	shares(t, host, splitN, map[string]float64{"reviews-v1": .9, "reviews-v2": .1})
}

// TestLeastRequest: requests go to the cluster with the fewest in flight,
// and every way a stream can end — completed, or reset before any response
// — gives its count back.
func TestLeastRequest(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, strings.Replace(filtertest.ReadExample(t, "lb/reviews-least-request.json"), "{", `{"random_seed": 8,`, 1))
	open := map[string]uint32{}
	for i := 0; i < 3; i++ { // three concurrent streams spread over the three idle clusters
		id, _ := filtertest.Send(host, reviewsReq())
		c, _ := filtertest.Get(host.GetCurrentRequestHeaders(id), clusterHeader)
		if _, dup := open[c]; dup {
			t.Fatalf("stream %d went to %s, which already has one in flight", i, c)
		}
		open[c] = id
	}
	inFlight := func() string {
		var s []string
		for _, c := range reviews {
			s = append(s, fmt.Sprint(filtertest.Gauge(t, host, fmt.Sprintf(`nicrt_lb_in_flight{service="reviews",cluster="%s"}`, c))))
		}
		return strings.Join(s, ",")
	}
	if got := inFlight(); got != "1,1,1" {
		t.Errorf("in-flight gauges %s, want 1,1,1", got)
	}
	// v2's stream is reset before any response: the host still ends it.
	host.CompleteHttpContext(open["reviews-v2"])
	if got := inFlight(); got != "1,0,1" {
		t.Errorf("after v2's reset: in-flight %s, want 1,0,1", got)
	}
	id, _ := filtertest.Send(host, reviewsReq())
	if c, _ := filtertest.Get(host.GetCurrentRequestHeaders(id), clusterHeader); c != "reviews-v2" {
		t.Errorf("next request went to %s, want the idle reviews-v2", c)
	}
	// v1's stream completes normally, with a response.
	host.CallOnResponseHeaders(open["reviews-v1"], [][2]string{{":status", "200"}}, true)
	host.CompleteHttpContext(open["reviews-v1"])
	host.CompleteHttpContext(open["reviews-v3"])
	host.CompleteHttpContext(id)
	if got := inFlight(); got != "0,0,0" {
		t.Errorf("all streams ended: in-flight %s, want 0,0,0", got)
	}
	p := (&vmContext{}).NewPluginContext(0).(*pluginContext)
	cfg := filtertest.ReadExample(t, "lb/reviews-least-request.json")
	p.OnPluginStart(len(cfg))
	if counts, err := p.lr.read(); err != nil || fmt.Sprint(counts) != "[0 0 0]" {
		t.Errorf("shared in-flight counts %v (%v), want [0 0 0]", counts, err)
	}
	// Streams that never chose (another service) release nothing.
	other, _ := filtertest.Send(host, filtertest.Headers("details", "/"))
	host.CompleteHttpContext(other)
	if counts, _ := p.lr.read(); fmt.Sprint(counts) != "[0 0 0]" {
		t.Errorf("after a skipped stream: %v", counts)
	}
}

// TestLeastRequestSharedAcrossInstances: in-flight counts taken by one plugin
// context steer another's choices.
func TestLeastRequestSharedAcrossInstances(t *testing.T) {
	cfg := filtertest.ReadExample(t, "lb/reviews-least-request.json")
	host := filtertest.Start(t, &vmContext{}, cfg)
	other := (&vmContext{}).NewPluginContext(0).(*pluginContext)
	other.OnPluginStart(len(cfg))
	a, _ := other.acquireLeast()
	b, _ := other.acquireLeast()
	id, _ := filtertest.Send(host, reviewsReq())
	got, _ := filtertest.Get(host.GetCurrentRequestHeaders(id), clusterHeader)
	for _, busy := range []int{a, b} {
		if got == reviews[busy] {
			t.Errorf("request went to %s, busy in the other instance (%d, %d)", got, a, b)
		}
	}
	other.release(a)
	other.release(b)
	host.CompleteHttpContext(id)
	if counts, _ := other.lr.read(); fmt.Sprint(counts) != "[0 0 0]" {
		t.Errorf("counts %v after all releases", counts)
	}
}

// TestRingHash: the same user always lands on the same cluster, users spread
// over the clusters, and requests without the header are spread at random
// and counted.
func TestRingHash(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, strings.Replace(filtertest.ReadExample(t, "lb/reviews-ring-hash.json"), "{", `{"random_seed": 2,`, 1))
	const users = 3000
	per := map[string]int{}
	first := map[string]string{}
	for u := 0; u < users; u++ {
		user := fmt.Sprintf("user-%d", u)
		c := route(host, reviewsReq("end-user", user))
		first[user] = c
		per[c]++
	}
	for u := 0; u < users; u += 7 {
		user := fmt.Sprintf("user-%d", u)
		if c := route(host, reviewsReq("end-user", user)); c != first[user] {
			t.Fatalf("%s moved from %s to %s", user, first[user], c)
		}
	}
	// 128 virtual nodes per cluster: each share within ±8 points of 1/3.
	for _, c := range reviews {
		if s := float64(per[c]) / users; math.Abs(s-1./3) > .08 {
			t.Errorf("%s has %.3f of the users, want 1/3 ± 0.08 (%v)", c, s, per)
		}
	}
	missing := map[string]int{}
	for i := 0; i < 300; i++ {
		missing[route(host, reviewsReq())]++
	}
	if len(missing) != 3 {
		t.Errorf("requests without end-user went to %v, want all three clusters", missing)
	}
	if n := filtertest.Counter(t, host, `nicrt_lb_hash_header_missing_total{service="reviews"}`); n != 300 {
		t.Errorf("missing-header counter %d, want 300", n)
	}
}

// TestRingConsistency: removing a cluster moves only its own keys.
func TestRingConsistency(t *testing.T) {
	all := newRing([]string{"a", "b", "c", "d"}, defaultVirtualNodes)
	less := newRing([]string{"a", "b", "c"}, defaultVirtualNodes)
	moved := 0
	for k := 0; k < 5000; k++ {
		key := fmt.Sprint("k", k)
		before, after := all.lookup(key), less.lookup(key)
		if before != 3 && before != after {
			t.Fatalf("key %s moved from cluster %d to %d although its cluster stayed", key, before, after)
		}
		if before == 3 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no key was on the removed cluster")
	}
}

// TestCustomHeaderAndFQDN: cluster_header and Kubernetes spellings of the service.
func TestCustomHeaderAndFQDN(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, `{"service": "reviews", "clusters": ["a"], "cluster_header": "X-Upstream"}`)
	for _, a := range []string{"reviews", "reviews.default:9080", "reviews.bookinfo.svc.cluster.local"} {
		if c, _ := filtertest.Route(host, "x-upstream", filtertest.Headers(a, "/")); c != "a" {
			t.Errorf("%s: routed to %q", a, c)
		}
	}
}

// TestConfigErrors: each bad field makes OnPluginStart fail with a log
// line naming it.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, field string }{
		{``, "configuration: the configuration is empty"},
		{`[]`, "configuration: must be an object"},
		{`{"clusters": ["a"]}`, "service: required"},
		{`{"service": "r"}`, "clusters: required"},
		{`{"service": "r", "clusters": []}`, "clusters: must list 1 to"},
		{`{"service": "bad name", "clusters": ["a"]}`, "service: host"},
		{`{"service": "r", "clusters": ["a", "a"]}`, `clusters[1]: cluster "a" is listed twice`},
		{`{"service": "r", "clusters": ["a b"]}`, "clusters[0]: cluster name"},
		{`{"service": "r", "clusters": [""]}`, "clusters[0]: empty cluster name"},
		{`{"service": "r", "clusters": [7]}`, "clusters[0]: must be an object"},
		{`{"service": "r", "clusters": [{"weight": 1}]}`, "clusters[0].weight: only used by policy weighted"},
		{`{"service": "r", "policy": "weighted", "clusters": [{"name": "a"}]}`, "clusters[0].weight: required by policy weighted"},
		{`{"service": "r", "policy": "weighted", "clusters": ["a"]}`, "clusters[0]: policy weighted needs"},
		{`{"service": "r", "policy": "weighted", "clusters": [{"name": "a", "weight": 0}]}`, "clusters: weights sum to 0"},
		{`{"service": "r", "policy": "weighted", "clusters": [{"name": "a", "weight": -1}]}`, "clusters[0].weight: -1 is out of range"},
		{`{"service": "r", "policy": "weighted", "clusters": [{"name": "a", "weight": 1, "w": 2}]}`, "clusters[0].w: unknown field"},
		{`{"service": "r", "policy": "fastest", "clusters": ["a"]}`, `policy: unknown policy "fastest"`},
		{`{"service": "r", "policy": "ring_hash", "clusters": ["a"]}`, "hash_header: required by policy ring_hash"},
		{`{"service": "r", "hash_header": "end-user", "clusters": ["a"]}`, "hash_header: only used by policy ring_hash"},
		{`{"service": "r", "policy": "ring_hash", "hash_header": "bad header", "clusters": ["a"]}`, "hash_header: header name"},
		{`{"service": "r", "policy": "ring_hash", "hash_header": "u", "virtual_nodes": 0, "clusters": ["a"]}`, "virtual_nodes: 0 is out of range"},
		{`{"service": "r", "virtual_nodes": 10, "clusters": ["a"]}`, "virtual_nodes: only used by policy ring_hash"},
		{`{"service": "r", "clusters": ["a"], "cluster_header": ":authority"}`, "cluster_header"},
		{`{"service": "r", "clusters": ["a"], "random_seed": 1.5}`, "random_seed: must be an integer"},
		{`{"service": "r", "clusters": ["a"], "shared_data_key": ""}`, "shared_data_key: must not be empty"},
		{`{"service": "r", "clusters": ["a"], "clusterHeader": "x"}`, `clusterHeader: unknown field (did you mean "cluster_header"?)`},
		{`{"service": "r", "clusters": ["a"], "policy": "round_robin", "policy": "random"}`, "policy: field appears more than once"},
	} {
		logs := filtertest.StartFailing(t, &vmContext{}, tc.cfg)
		if !strings.Contains(strings.Join(logs, "\n"), tc.field) {
			t.Errorf("config %s\nerror logs %q\ndo not name %q", tc.cfg, logs, tc.field)
		}
	}
}

// FuzzConfig: no input makes the parser panic, and an accepted configuration
// is complete enough to balance with.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"service": "reviews", "clusters": ["reviews-v1", "reviews-v2"]}`,
		`{"service": "r", "policy": "weighted", "clusters": [{"name": "a", "weight": 90}, {"name": "b", "weight": 10}]}`,
		`{"service": "r", "policy": "ring_hash", "hash_header": "end-user", "virtual_nodes": 3, "clusters": ["a"]}`,
		`{"service": "*", "policy": "least_request", "clusters": ["a"], "cluster_header": "x", "random_seed": 1}`,
		`{"service": "r", "clusters": [{"name": "a"}]}`, `{`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data)
		if err != nil {
			return
		}
		if len(c.clusters) == 0 || c.clusterHeader == "" || c.sharedKey == "" {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
		if c.policy == weighted && c.weights.Total() == 0 || c.policy == ringHash && (c.hashHeader == "" || c.virtualNodes < 1) {
			t.Fatalf("accepted an unusable %s configuration: %+v", c.policy, c)
		}
	})
}

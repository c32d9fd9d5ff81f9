package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

const clusterHeader = "x-nicrt-cluster"

// splitN and splitTolerance bound the weight-split tests: with N = 20000
// draws every observed share must be within 1.5 percentage points of the
// configured weight. For the splits used here (≥ 10%) the binomial standard
// deviation is ≤ 0.36 points, so the bound is more than 4σ; the draws are
// seeded, so the test is also reproducible.
const (
	splitN         = 20000
	splitTolerance = 0.015
)

// seeded returns an example configuration with a fixed random seed added.
func seeded(t *testing.T, file string, seed int) string {
	cfg := filtertest.ReadExample(t, file)
	return strings.Replace(cfg, "{", fmt.Sprintf(`{"random_seed": %d,`, seed), 1)
}

// TestBookinfoRules runs every Bookinfo VirtualService from bookinfo.md
// through the filter and checks that it routes as Istio would: header rules
// deterministically, weighted rules within splitTolerance.
func TestBookinfoRules(t *testing.T) {
	for _, tc := range []struct {
		file      string
		jason     map[string]float64 // share of clusters for end-user: jason
		anonymous map[string]float64 // share for requests without end-user
		otherUser map[string]float64 // share for end-user: alice
	}{
		{file: "route/reviews-v3.json",
			jason: map[string]float64{"reviews-v3": 1}, anonymous: map[string]float64{"reviews-v3": 1}, otherUser: map[string]float64{"reviews-v3": 1}},
		{file: "route/reviews-jason-v2-v3.json",
			jason: map[string]float64{"reviews-v2": 1}, anonymous: map[string]float64{"reviews-v3": 1}, otherUser: map[string]float64{"reviews-v3": 1}},
		{file: "route/reviews-test-v2.json",
			jason: map[string]float64{"reviews-v2": 1}, anonymous: map[string]float64{"reviews-v1": 1}, otherUser: map[string]float64{"reviews-v1": 1}},
		{file: "route/reviews-50-v3.json",
			anonymous: map[string]float64{"reviews-v1": .5, "reviews-v3": .5}},
		{file: "route/reviews-90-10.json",
			anonymous: map[string]float64{"reviews-v1": .9, "reviews-v2": .1}},
		{file: "route/reviews-80-20.json",
			anonymous: map[string]float64{"reviews-v1": .8, "reviews-v2": .2}},
		{file: "route/reviews-v2-v3.json",
			anonymous: map[string]float64{"reviews-v2": .5, "reviews-v3": .5}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			host := filtertest.Start(t, &vmContext{}, seeded(t, tc.file, 42))
			for _, who := range []struct {
				user string
				want map[string]float64
			}{{"jason", tc.jason}, {"", tc.anonymous}, {"alice", tc.otherUser}} {
				if who.want == nil {
					continue
				}
				n := splitN
				if len(who.want) == 1 {
					n = 200 // deterministic rules: every request must agree
				}
				got := map[string]int{}
				for i := 0; i < n; i++ {
					h := filtertest.Headers("reviews:9080", "/reviews/0")
					if who.user != "" {
						h = append(h, [2]string{"end-user", who.user})
					}
					c, ok := filtertest.Route(host, clusterHeader, h)
					if !ok {
						t.Fatalf("user %q: no routing header set", who.user)
					}
					got[c]++
				}
				checkShares(t, "user "+who.user, got, n, who.want)
			}
		})
	}
}

func checkShares(t *testing.T, what string, got map[string]int, n int, want map[string]float64) {
	t.Helper()
	for c := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("%s: %d requests went to %s, which should get none (got %v)", what, got[c], c, got)
		}
	}
	for c, share := range want {
		obs := float64(got[c]) / float64(n)
		if math.Abs(obs-share) > splitTolerance || share == 1 && got[c] != n {
			t.Errorf("%s: %s got %.4f of %d requests, want %.2f ± %.3f", what, c, obs, n, share, splitTolerance)
		}
	}
}

// TestUnmatchedPassesUntouched: requests for other hosts, and requests no
// rule matches, keep their headers exactly and are counted as unmatched.
func TestUnmatchedPassesUntouched(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, `{"hosts": ["reviews"], "http": [
		{"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}`)
	for _, h := range [][2]string{{"details:9080", "jason"}, {"reviews:9080", "alice"}, {"reviews", ""}} {
		in := filtertest.Headers(h[0], "/x", "end-user", h[1])
		id, action := filtertest.Send(host, in)
		if action != types.ActionContinue {
			t.Errorf("%v: action %v, want continue", h, action)
		}
		out := host.GetCurrentRequestHeaders(id)
		if fmt.Sprint(out) != fmt.Sprint(in) {
			t.Errorf("%v: headers changed:\n in %v\nout %v", h, in, out)
		}
		host.CompleteHttpContext(id)
	}
	if n := filtertest.Counter(t, host, `nicrt_route_unmatched_total{host="reviews"}`); n != 3 {
		t.Errorf("unmatched counter %d, want 3", n)
	}
	if c, _ := filtertest.Route(host, clusterHeader, filtertest.Headers("reviews.default.svc.cluster.local:9080", "/", "end-user", "jason")); c != "reviews-v2" {
		t.Errorf("FQDN authority routed to %q, want reviews-v2", c)
	}
	if n := filtertest.Counter(t, host, `nicrt_route_requests_total{host="reviews",rule="0",cluster="reviews-v2"}`); n != 1 {
		t.Errorf("routed counter %d, want 1", n)
	}
}

// TestClientHeaderOverwritten: a client cannot pick its cluster when a rule
// matches, because the filter replaces the routing header.
func TestClientHeaderOverwritten(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, filtertest.ReadExample(t, "route/reviews-v3.json"))
	id, _ := filtertest.Send(host, filtertest.Headers("reviews", "/", clusterHeader, "reviews-v1"))
	var vals []string
	for _, h := range host.GetCurrentRequestHeaders(id) {
		if h[0] == clusterHeader {
			vals = append(vals, h[1])
		}
	}
	if len(vals) != 1 || vals[0] != "reviews-v3" {
		t.Errorf("routing header values %v, want exactly [reviews-v3]", vals)
	}
}

// TestCustomHeaderAndTemplate: cluster_header and the cluster templates
// change where and what the filter writes.
func TestCustomHeaderAndTemplate(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, `{"hosts": ["*"], "cluster_header": "X-Route-To",
		"cluster_template": "outbound|{port}|{subset}|{host}", "cluster_template_no_subset": "outbound|{port}||{host}",
		"http": [
		 {"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "reviews.default.svc.cluster.local", "subset": "v1", "port": {"number": 9080}}}]},
		 {"route": [{"destination": {"host": "details.default.svc.cluster.local", "port": {"number": 9080}}}]}]}`)
	for path, want := range map[string]string{
		"/a/b": "outbound|9080|v1|reviews.default.svc.cluster.local",
		"/b":   "outbound|9080||details.default.svc.cluster.local",
	} {
		if got, _ := filtertest.Route(host, "x-route-to", filtertest.Headers("anything", path)); got != want {
			t.Errorf("%s: routed to %q, want %q", path, got, want)
		}
	}
	if _, ok := filtertest.Route(host, clusterHeader, filtertest.Headers("x", "/")); ok {
		t.Error("default header set although cluster_header names another")
	}
}

// TestBareHTTPList: the bare http list applies to every host.
func TestBareHTTPList(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, `[{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]`)
	for _, a := range []string{"reviews", "details:9080", "example.com"} {
		if got, _ := filtertest.Route(host, clusterHeader, filtertest.Headers(a, "/")); got != "reviews-v1" {
			t.Errorf("%s: routed to %q, want reviews-v1", a, got)
		}
	}
	filtertest.Counter(t, host, `nicrt_route_requests_total{host="*",rule="0",cluster="reviews-v1"}`)
}

// matchKindsConfig has a rule for each match kind; matchKindsCases are
// requests against it and the cluster each must reach ("" for none). The
// emulator test and the runtime test share them.
const matchKindsConfig = `{"hosts": ["svc"], "http": [
 {"name": "exact-uri", "match": [{"uri": {"exact": "/exact"}}], "route": [{"destination": {"host": "svc", "subset": "exact"}}]},
 {"match": [{"uri": {"regex": "/r/[0-9]+"}}], "route": [{"destination": {"host": "svc", "subset": "regex"}}]},
 {"match": [{"method": {"exact": "POST"}, "queryParams": {"debug": {"exact": "1"}}}], "route": [{"destination": {"host": "svc", "subset": "postdebug"}}]},
 {"match": [{"headers": {"x-canary": {}}}, {"uri": {"prefix": "/canary"}}], "route": [{"destination": {"host": "svc", "subset": "canary"}}]},
 {"match": [{"headers": {"cookie": {"regex": "^(.*?;)?(user=jason)(;.*)?$"}}}], "route": [{"destination": {"host": "svc", "subset": "cookie"}}]},
 {"match": [{"withoutHeaders": {"x-internal": {"exact": "yes"}}, "uri": {"prefix": "/pub"}}], "route": [{"destination": {"host": "svc", "subset": "public"}}]},
 {"match": [{"headers": {"x-tenant": {"prefix": "team-"}}, "method": {"regex": "GET|HEAD"}}], "route": [{"destination": {"host": "svc", "subset": "tenant"}}]},
 {"match": [{"queryParams": {"v": {"regex": "[0-9]+"}, "flag": {}}}], "route": [{"destination": {"host": "svc", "subset": "query"}}]},
 {"match": [{"uri": {"prefix": "/case"}, "ignoreUriCase": true}], "route": [{"destination": {"host": "svc", "subset": "nocase"}}]}
]}`

var matchKindsCases = []struct {
	method, path string
	kv           []string
	want         string
}{
	{"GET", "/exact", nil, "svc-exact"},
	{"GET", "/exact?x=1", nil, "svc-exact"},
	{"GET", "/exact/more", nil, ""},
	{"GET", "/r/123", nil, "svc-regex"},
	{"GET", "/r/12a", nil, ""},
	{"POST", "/p?debug=1", nil, "svc-postdebug"},
	{"GET", "/p?debug=1", nil, ""},
	{"POST", "/p?debug=2", nil, ""},
	{"GET", "/x", []string{"x-canary", "1"}, "svc-canary"},
	{"GET", "/canary/1", nil, "svc-canary"},
	{"GET", "/", []string{"cookie", "a=b; user=jason"}, ""},
	{"GET", "/", []string{"cookie", "a=b;user=jason"}, "svc-cookie"},
	{"GET", "/pub/1", nil, "svc-public"},
	{"GET", "/pub/1", []string{"x-internal", "yes"}, ""},
	{"GET", "/pub/1", []string{"x-internal", "no"}, "svc-public"},
	{"HEAD", "/t", []string{"x-tenant", "team-a"}, "svc-tenant"},
	{"POST", "/t", []string{"x-tenant", "team-a"}, ""},
	{"GET", "/t", []string{"x-tenant", "staff"}, ""},
	{"GET", "/q?flag&v=12", nil, "svc-query"},
	{"GET", "/q?v=12", nil, ""},
	{"GET", "/q?flag=1&v=1x", nil, ""},
	{"GET", "/CASE/1", nil, "svc-nocase"},
}

// TestMatchKindsThroughHost checks each match kind once through the host
// emulator (package istio tests them exhaustively without a host).
func TestMatchKindsThroughHost(t *testing.T) {
	host := filtertest.Start(t, &vmContext{}, matchKindsConfig)
	for _, tc := range matchKindsCases {
		h := filtertest.Headers("svc:80", tc.path, tc.kv...)
		h[2][1] = tc.method
		got, _ := filtertest.Route(host, clusterHeader, h)
		if got != tc.want {
			t.Errorf("%s %s %v: routed to %q, want %q", tc.method, tc.path, tc.kv, got, tc.want)
		}
	}
	filtertest.Counter(t, host, `nicrt_route_requests_total{host="svc",rule="exact-uri",cluster="svc-exact"}`)
}

// TestConfigErrors: every bad or unsupported field makes OnPluginStart fail
// with an error log naming the field.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, field string }{
		{``, "configuration"},
		{`{"hosts": ["reviews"], "http": [`, "byte offset"},
		{`42`, "must be a JSON array"},
		{`[]`, "http: at least one rule"},
		{`{"http": [{"route": [{"destination": {"host": "r"}}]}]}`, "hosts: required"},
		{`{"hosts": [], "http": []}`, "hosts: at least one host"},
		{`{"hosts": ["bad host"], "http": [{"route": [{"destination": {"host": "r"}}]}]}`, "hosts[0]"},
		{`{"hosts": ["r"], "htp": []}`, "htp: unknown field"},
		{`{"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}], "cluster_header": ":path"}`, "cluster_header"},
		{`{"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}], "cluster_template": "{host}-{version}"}`, "cluster_template"},
		{`{"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}], "fault_tick_ms": 0}`, "fault_tick_ms"},
		{`{"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}], "random_seed": -1}`, "random_seed"},
		{`{"spec": {}}`, "spec: not supported"},
		{`[{"match": [{"uri": {"exact": "/"}}]}]`, "http[0].route: required"},
		{`[{"route": []}]`, "http[0].route: at least one destination"},
		{`[{"route": [{"weight": 100}]}]`, "http[0].route[0].destination: required"},
		{`[{"route": [{"destination": {"subset": "v1"}}]}]`, "http[0].route[0].destination.host: required"},
		{`[{"route": [{"destination": {"host": "r", "port": {"name": "http"}}}]}]`, "http[0].route[0].destination.port.name: unknown field"},
		{`[{"route": [{"destination": {"host": "r", "subset": "a"}, "weight": 60}, {"destination": {"host": "r", "subset": "b"}, "weight": 30}]}]`, "http[0].route: destination weights sum to 90"},
		{`[{"route": [{"destination": {"host": "r", "subset": "a"}}, {"destination": {"host": "r", "subset": "b"}}]}]`, "http[0].route: 2 destinations need weights"},
		{`[{"route": [{"destination": {"host": "r"}, "weight": 101}]}]`, "http[0].route[0].weight"},
		{`[{"route": [{"destination": {"host": "r"}, "weight": "50"}]}]`, "http[0].route[0].weight: must be an integer"},
		{`[{"route": [{"destination": {"host": "r"}, "headers": {}}]}]`, "http[0].route[0].headers: not supported"},
		{`[{"route": [{"destination": {"host": "r"}}], "retries": {"attempts": 3}}]`, "http[0].retries: not supported"},
		{`[{"route": [{"destination": {"host": "r"}}], "timeout": "1s"}]`, "http[0].timeout: not supported"},
		{`[{"match": [{}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0]: an empty match block"},
		{`[{"match": [{"uri": {}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].uri: must have one of"},
		{`[{"match": [{"uri": {"exact": "/", "prefix": "/"}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].uri: give only one"},
		{`[{"match": [{"uri": {"regex": "("}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].uri.regex: invalid RE2"},
		{`[{"match": [{"uri": {"glob": "/*"}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].uri.glob: unknown field"},
		{`[{"match": [{"headers": {"End-User": {"exact": "j"}}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].headers.End-User: header name \"End-User\" must be lowercase"},
		{`[{"match": [{"headers": {"uri": {"exact": "/"}}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].headers.uri"},
		{`[{"match": [{"queryParams": {"q": {"prefix": "a"}}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].queryParams.q.prefix: prefix matching is not supported"},
		{`[{"match": [{"sourceLabels": {"app": "x"}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].sourceLabels: not supported"},
		{`[{"match": [{"query_params": {}}], "route": [{"destination": {"host": "r"}}]}]`, `http[0].match[0].query_params: unknown field (did you mean "queryParams"?)`},
		{`[{"match": [{"ignoreUriCase": "yes", "uri": {"exact": "/"}}], "route": [{"destination": {"host": "r"}}]}]`, "http[0].match[0].ignoreUriCase: must be true or false"},
		{`[{"route": [{"destination": {"host": "r"}}], "route": [{"destination": {"host": "s"}}]}]`, "http[0].route: field appears more than once"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {}}]`, "http[0].fault: a fault needs"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "7 seconds"}}}]`, "http[0].fault.delay.fixedDelay: invalid duration"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "0.5ms"}}}]`, "http[0].fault.delay.fixedDelay: duration 0.5ms is less than 1ms"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"percentage": {"value": 50}}}}]`, "http[0].fault.delay.fixedDelay: required"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "1s", "percentage": {"value": 150}}}}]`, "http[0].fault.delay.percentage.value"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "1s", "percent": 5, "percentage": {"value": 5}}}}]`, "http[0].fault.delay.percent: give either"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"abort": {"httpStatus": 99}}}]`, "http[0].fault.abort.httpStatus"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"abort": {"grpcStatus": "UNAVAILABLE"}}}]`, "http[0].fault.abort.grpcStatus: not supported"},
		{`[{"route": [{"destination": {"host": "r"}}], "fault": {"abort": {"httpStatus": 500, "percent": 5}}}]`, "http[0].fault.abort.percent: unknown field"},
	} {
		logs := filtertest.StartFailing(t, &vmContext{}, tc.cfg)
		if !strings.Contains(strings.Join(logs, "\n"), tc.field) {
			t.Errorf("config %s\nerror logs %q\ndo not name %q", tc.cfg, logs, tc.field)
		}
	}
}

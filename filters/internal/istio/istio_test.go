package istio

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/filters/internal/draw"
)

var errAbsent = errors.New("header absent")

// mapRequest builds a Request over fixed headers.
func mapRequest(h map[string]string) *Request {
	r := &Request{}
	r.Reset(func(name string) (string, error) {
		if v, ok := h[name]; ok {
			return v, nil
		}
		return "", errAbsent
	})
	return r
}

func mustParse(t testing.TB, s string) *Config {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return c
}

// TestMatchKinds covers every match field and kind, one block per case; the
// rule matches (route "yes") or not (no rule selected).
func TestMatchKinds(t *testing.T) {
	for _, tc := range []struct {
		match string
		req   map[string]string
		want  bool
	}{
		{`{"uri": {"exact": "/a"}}`, map[string]string{":path": "/a"}, true},
		{`{"uri": {"exact": "/a"}}`, map[string]string{":path": "/a?q=1#f"}, true},
		{`{"uri": {"exact": "/a"}}`, map[string]string{":path": "/A"}, false},
		{`{"uri": {"exact": "/a"}, "ignoreUriCase": true}`, map[string]string{":path": "/A"}, true},
		{`{"uri": {"prefix": "/api/"}}`, map[string]string{":path": "/api/v1"}, true},
		{`{"uri": {"prefix": "/api/"}}`, map[string]string{":path": "/ap"}, false},
		{`{"uri": {"prefix": "/API/"}, "ignoreUriCase": true}`, map[string]string{":path": "/api/x"}, true},
		{`{"uri": {"regex": "/r/[0-9]+"}}`, map[string]string{":path": "/r/42"}, true},
		{`{"uri": {"regex": "/r/[0-9]+"}}`, map[string]string{":path": "/x/r/42"}, false},                 // whole-value match
		{`{"uri": {"regex": "/R/.*"}, "ignoreUriCase": true}`, map[string]string{":path": "/r/1"}, false}, // ignoreUriCase skips regex, as Istio says
		{`{"uri": {"exact": "/"}}`, map[string]string{}, false},
		{`{"method": {"exact": "GET"}}`, map[string]string{":method": "GET"}, true},
		{`{"method": {"exact": "GET"}}`, map[string]string{":method": "get"}, false},
		{`{"method": {"regex": "GET|HEAD"}}`, map[string]string{":method": "HEAD"}, true},
		{`{"scheme": {"exact": "https"}}`, map[string]string{":scheme": "http"}, false},
		{`{"authority": {"prefix": "reviews"}}`, map[string]string{":authority": "reviews:9080"}, true},
		{`{"headers": {"end-user": {"exact": "jason"}}}`, map[string]string{"end-user": "jason"}, true},
		{`{"headers": {"end-user": {"exact": "jason"}}}`, map[string]string{"end-user": "Jason"}, false},
		{`{"headers": {"end-user": {"exact": "jason"}}}`, map[string]string{}, false},
		{`{"headers": {"end-user": {"prefix": "ja"}}}`, map[string]string{"end-user": "jason"}, true},
		{`{"headers": {"end-user": {"regex": "j.*n"}}}`, map[string]string{"end-user": "jason"}, true},
		{`{"headers": {"end-user": {"regex": "j"}}}`, map[string]string{"end-user": "jason"}, false},
		{`{"headers": {"end-user": {}}}`, map[string]string{"end-user": ""}, true},
		{`{"headers": {"end-user": {}}}`, map[string]string{}, false},
		{`{"headers": {"a": {"exact": "1"}, "b": {"exact": "2"}}}`, map[string]string{"a": "1", "b": "2"}, true},
		{`{"headers": {"a": {"exact": "1"}, "b": {"exact": "2"}}}`, map[string]string{"a": "1"}, false}, // AND within a block
		{`{"withoutHeaders": {"x-test": {"exact": "1"}}}`, map[string]string{"x-test": "1"}, false},
		{`{"withoutHeaders": {"x-test": {"exact": "1"}}}`, map[string]string{"x-test": "2"}, true},
		{`{"withoutHeaders": {"x-test": {"exact": "1"}}}`, map[string]string{}, true},
		{`{"withoutHeaders": {"x-test": {}}}`, map[string]string{"x-test": "anything"}, false},
		{`{"queryParams": {"q": {"exact": "1"}}}`, map[string]string{":path": "/?a=2&q=1"}, true},
		{`{"queryParams": {"q": {"exact": "1"}}}`, map[string]string{":path": "/?q=2&q=1"}, false}, // first value counts
		{`{"queryParams": {"q": {"exact": ""}}}`, map[string]string{":path": "/?q"}, true},
		{`{"queryParams": {"q": {}}}`, map[string]string{":path": "/?x=1&q=0"}, true},
		{`{"queryParams": {"q": {}}}`, map[string]string{":path": "/?x=1"}, false},
		{`{"queryParams": {"q": {"regex": "\\d+"}}}`, map[string]string{":path": "/?q=123"}, true},
		{`{"queryParams": {"q": {"regex": "\\d+"}}}`, map[string]string{":path": "/?q=a123"}, false},
		{`{"queryParams": {"user name": {"exact": "a b"}}}`, map[string]string{":path": "/?user%20name=a+b"}, true},
		{`{"queryParams": {"q": {"exact": "1"}}}`, map[string]string{":path": "/q=1"}, false},
		{`{"uri": {"prefix": "/a"}, "method": {"exact": "POST"}}`, map[string]string{":path": "/a", ":method": "GET"}, false},
	} {
		c := mustParse(t, `[{"match": [`+tc.match+`], "route": [{"destination": {"host": "yes"}}]}]`)
		if got := c.Select(mapRequest(tc.req)) != nil; got != tc.want {
			t.Errorf("match %s on %v: %v, want %v", tc.match, tc.req, got, tc.want)
		}
	}
}

// TestFirstRuleWinsAndOr: blocks of one rule are OR'd, and rules are tried in
// order.
func TestFirstRuleWinsAndOr(t *testing.T) {
	c := mustParse(t, `{"hosts": ["reviews"], "http": [
	 {"name": "a", "match": [{"headers": {"end-user": {"exact": "jason"}}}, {"uri": {"prefix": "/jason"}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
	 {"name": "b", "match": [{"uri": {"prefix": "/"}}], "route": [{"destination": {"host": "reviews", "subset": "v1"}}]},
	 {"name": "never", "route": [{"destination": {"host": "reviews", "subset": "v3"}}]}]}`)
	for _, tc := range []struct {
		req  map[string]string
		want string
	}{
		{map[string]string{":authority": "reviews", ":path": "/x", "end-user": "jason"}, "a"},
		{map[string]string{":authority": "reviews", ":path": "/jason/1"}, "a"},
		{map[string]string{":authority": "reviews", ":path": "/x"}, "b"},
		{map[string]string{":authority": "reviews"}, "never"},
		{map[string]string{":authority": "details", ":path": "/x", "end-user": "jason"}, ""},
		{map[string]string{":path": "/x"}, ""},
	} {
		r := c.Select(mapRequest(tc.req))
		got := ""
		if r != nil {
			got = r.Label
		}
		if got != tc.want {
			t.Errorf("%v: rule %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestParseDetails(t *testing.T) {
	c := mustParse(t, `{"hosts": ["ratings"], "random_seed": 9, "fault_tick_ms": 5, "http": [
	 {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "fault": {"delay": {"percentage": {"value": 12.5}, "fixedDelay": "7s"}, "abort": {"httpStatus": 503}},
	  "route": [{"destination": {"host": "ratings", "subset": "v1", "port": {"number": 9080}}, "weight": 100}]},
	 {"route": [{"destination": {"host": "ratings"}, "weight": 30}, {"destination": {"host": "ratings", "subset": "v2"}, "weight": 70}],
	  "fault": {"delay": {"fixedDelay": "1.5s", "percent": 3}}}]}`)
	if c.RandomSeed != 9 || c.FaultTickMs != 5 || c.ClusterHeader != "x-nicrt-cluster" {
		t.Errorf("top-level fields: %+v", c)
	}
	f := c.Rules[0].Fault
	if !f.HasDelay || f.Delay.String() != "7s" || f.DelayPerMillion != 125000 || !f.HasAbort || f.AbortStatus != 503 || f.AbortPerMillion != draw.Million {
		t.Errorf("rule 0 fault: %+v", f)
	}
	if f := c.Rules[1].Fault; f.Delay.String() != "1.5s" || f.DelayPerMillion != 30000 || f.HasAbort {
		t.Errorf("rule 1 fault: %+v", f)
	}
	if got := strings.Join(c.Clusters(), ","); got != "ratings-v1,ratings,ratings-v2" {
		t.Errorf("clusters %s", got)
	}
	if d := c.Rules[0].Route[0]; d.Port != 9080 || d.Weight != 100 {
		t.Errorf("destination %+v", d)
	}
	if !c.HasDelay() {
		t.Error("HasDelay false")
	}
}

// TestLoneDestinationGetsAllTraffic: Istio assumes weight 100 for a single
// destination whatever its weight says.
func TestLoneDestinationGetsAllTraffic(t *testing.T) {
	c := mustParse(t, `[{"route": [{"destination": {"host": "a"}, "weight": 20}]}]`)
	if c.Rules[0].Route[0].Weight != 100 {
		t.Errorf("weight %d", c.Rules[0].Route[0].Weight)
	}
}

// TestSelectDoesNotAllocate: the per-request path (select a rule with header,
// uri and query matches, pick a destination) allocates nothing once the
// request's headers are fetched.
func TestSelectDoesNotAllocate(t *testing.T) {
	c := mustParse(t, `{"hosts": ["reviews"], "http": [
	 {"match": [{"headers": {"end-user": {"exact": "jason"}}, "queryParams": {"q": {"exact": "1"}}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
	 {"match": [{"uri": {"regex": "/reviews/[0-9]+"}}], "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 50}, {"destination": {"host": "reviews", "subset": "v3"}, "weight": 50}]}]}`)
	h := map[string]string{":authority": "reviews:9080", ":path": "/reviews/0?q=2", "end-user": "jason"}
	fetch := func(name string) (string, error) {
		if v, ok := h[name]; ok {
			return v, nil
		}
		return "", errAbsent
	}
	src := draw.New(1)
	var r Request
	n := testing.AllocsPerRun(200, func() {
		r.Reset(fetch)
		if rule := c.Select(&r); rule == nil || rule.Label != "1" {
			t.Fatal("wrong rule")
		} else {
			rule.Pick(src)
		}
	})
	if n != 0 {
		t.Errorf("per-request path allocates %v times", n)
	}
}

// FuzzMatcher runs arbitrary header values, paths and query strings through
// every match kind: no panic, and the result agrees with a direct check of
// the exact header rule.
func FuzzMatcher(f *testing.F) {
	c := mustParse(f, `{"hosts": ["*"], "http": [
	 {"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [{"destination": {"host": "exact"}}]},
	 {"match": [{"headers": {"end-user": {"regex": "(?i)j.*"}}, "uri": {"prefix": "/p"}, "ignoreUriCase": true}], "route": [{"destination": {"host": "regex"}}]},
	 {"match": [{"queryParams": {"q": {"regex": "[0-9]+"}}, "withoutHeaders": {"x": {}}}], "route": [{"destination": {"host": "query"}}]},
	 {"match": [{"method": {"prefix": "P"}, "authority": {"regex": ".*:[0-9]+"}}], "route": [{"destination": {"host": "method"}}]}]}`)
	f.Add("jason", "/p?q=1", "GET", "a:1", true)
	f.Add("JASON", "/P/x", "POST", "host", false)
	f.Add("", "/?q=%zz&q=1", "", "", true)
	f.Add("\x00\xff", "?&&=&q", "P", ":", false)
	f.Fuzz(func(t *testing.T, user, path, method, authority string, withUser bool) {
		h := map[string]string{":path": path, ":method": method, ":authority": authority}
		if withUser {
			h["end-user"] = user
		}
		r := c.Select(mapRequest(h))
		if withUser && user == "jason" && (r == nil || r.Label != "0") {
			t.Fatalf("end-user jason did not select rule 0")
		}
		if r != nil && r.Label == "0" && (!withUser || user != "jason") {
			t.Fatalf("rule 0 selected for end-user %q (present %v)", user, withUser)
		}
	})
}

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, and
// an accepted configuration has rules, weights summing to 100 and a
// cluster for every destination.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`[{"route": [{"destination": {"host": "r"}}]}]`,
		`{"hosts": ["reviews"], "http": [{"match": [{"headers": {"end-user": {"exact": "jason"}}}], "route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}`,
		`{"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}, "weight": 50}, {"destination": {"host": "b"}, "weight": 50}]}]}`,
		`[{"match": [{"uri": {"regex": "/[a-z]+"}, "queryParams": {"q": {}}}], "route": [{"destination": {"host": "r"}}], "fault": {"delay": {"fixedDelay": "1s"}}}]`,
		`{"hosts": [1]}`, `[`, `null`, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if len(cfg.Rules) == 0 {
			t.Fatal("accepted a configuration without rules")
		}
		for _, r := range cfg.Rules {
			var sum uint32
			for _, d := range r.Route {
				sum += d.Weight
				if d.Cluster == "" {
					t.Fatal("accepted a destination without cluster")
				}
			}
			if sum != 100 {
				t.Fatalf("accepted weights summing to %d", sum)
			}
		}
	})
}

// TestMoreHeadersThanCacheSlots: a configuration reading more distinct
// headers than a Request caches still matches correctly (the rest are read
// from the host each time), and the cached ones are read once per stream.
func TestMoreHeadersThanCacheSlots(t *testing.T) {
	var conds, all []string
	h := map[string]string{":authority": "svc"}
	for i := 0; i < maxSlots+4; i++ {
		name := fmt.Sprintf("x-h%d", i)
		conds = append(conds, fmt.Sprintf(`%q: {"exact": "%d"}`, name, i))
		h[name] = fmt.Sprint(i)
		all = append(all, name)
	}
	c := mustParse(t, `{"hosts": ["svc"], "http": [
	 {"match": [{"headers": {`+strings.Join(conds, ", ")+`}}], "route": [{"destination": {"host": "all"}}]},
	 {"match": [{"headers": {"x-h0": {"exact": "0"}, "x-h19": {"exact": "19"}}}], "route": [{"destination": {"host": "ends"}}]}]}`)
	fetched := map[string]int{}
	var r Request
	r.Reset(func(name string) (string, error) {
		fetched[name]++
		if v, ok := h[name]; ok {
			return v, nil
		}
		return "", errAbsent
	})
	if rule := c.Select(&r); rule == nil || rule.Route[0].Host != "all" {
		t.Fatalf("every header present: selected %+v", rule)
	}
	delete(h, all[len(all)-2]) // an uncached one: the first rule fails, the second holds
	clear(fetched)
	r.Reset(r.fetch)
	if rule := c.Select(&r); rule == nil || rule.Route[0].Host != "ends" {
		t.Fatalf("x-h18 missing: selected %+v", rule)
	}
	if fetched["x-h0"] != 1 || fetched[":authority"] != 1 {
		t.Errorf("cached headers fetched %d and %d times in one stream, want once", fetched["x-h0"], fetched[":authority"])
	}
}

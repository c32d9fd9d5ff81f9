package routing

import "testing"

func TestClusterHeader(t *testing.T) {
	for in, want := range map[string]string{"x-nicrt-cluster": "x-nicrt-cluster", "X-Route": "x-route", "a_b.c~d": "a_b.c~d"} {
		if got, err := ClusterHeader(in); err != nil || got != want {
			t.Errorf("ClusterHeader(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":path", "a b", "a:b", "é", "a\n"} {
		if _, err := ClusterHeader(bad); err == nil {
			t.Errorf("ClusterHeader(%q) accepted", bad)
		}
	}
}

func TestClusterName(t *testing.T) {
	for _, ok := range []string{"reviews-v1", "outbound|9080|v1|reviews.default.svc.cluster.local", "a"} {
		if err := ClusterName(ok); err != nil {
			t.Errorf("ClusterName(%q): %v", ok, err)
		}
	}
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a b", "a\tb", "ré", string(long), "a\x7f"} {
		if err := ClusterName(bad); err == nil {
			t.Errorf("ClusterName(%q) accepted", bad)
		}
	}
}

func TestTemplate(t *testing.T) {
	if got := DefaultTemplate.Expand("reviews", "v2", ""); got != "reviews-v2" {
		t.Errorf("default = %q", got)
	}
	if got := DefaultTemplateNoSubset.Expand("reviews", "", "9080"); got != "reviews" {
		t.Errorf("default no subset = %q", got)
	}
	if got := Template("outbound|{port}|{subset}|{host}").Expand("r.ns.svc.cluster.local", "v1", "9080"); got != "outbound|9080|v1|r.ns.svc.cluster.local" {
		t.Errorf("istio-style = %q", got)
	}
	for _, bad := range []Template{"", "{host", "host}", "{hots}", "{host}-{version}"} {
		if err := bad.Check(); err == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
	if err := Template("{host}-{subset}:{port}").Check(); err != nil {
		t.Error(err)
	}
}

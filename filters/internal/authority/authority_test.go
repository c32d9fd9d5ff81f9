package authority

import (
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"reviews":             "reviews",
		"reviews:9080":        "reviews",
		"reviews.default.":    "reviews.default",
		"reviews.default.:80": "reviews.default",
		"[::1]:8080":          "[::1]",
		"[::1]":               "[::1]",
		"host:port":           "host:port",
		"":                    "",
		"10.0.0.1:9080":       "10.0.0.1",
		"reviews:":            "reviews",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"reviews",
			[]string{"reviews", "reviews:9080", "REVIEWS", "reviews.default", "reviews.bookinfo:9080", "reviews.default.svc", "reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local.:9080"},
			[]string{"", "review", "reviewsx", "reviews.default.svc.example.com", "reviews.a.b", "details", "reviews..svc", "x.reviews"}},
		{"reviews.default.svc.cluster.local",
			[]string{"reviews", "reviews.default", "reviews.default.svc", "reviews.default.svc.cluster.local:9080"},
			[]string{"reviews.other", "reviews.other.svc.cluster.local", "details.default"}},
		{"reviews.default.svc",
			[]string{"reviews", "reviews.default.svc.cluster.local"},
			[]string{"reviews.prod"}},
		{"example.com", []string{"example.com", "Example.COM:443"}, []string{"www.example.com", "example"}},
		{"*.example.com", []string{"www.example.com", "a.b.example.com:80"}, []string{"example.com", "wwwexample.com"}},
		{"*", []string{"anything", "", "x:1"}, nil},
	} {
		p, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.pattern, err)
		}
		for _, a := range tc.yes {
			if !p.Match(a) {
				t.Errorf("%q should match %q", tc.pattern, a)
			}
		}
		for _, a := range tc.no {
			if p.Match(a) {
				t.Errorf("%q should not match %q", tc.pattern, a)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, p := range []string{"", "a b", "*x", "a.*.b", "a..b", "ex*ample", "http://x"} {
		if _, err := Compile(p); err == nil {
			t.Errorf("Compile(%q) accepted", p)
		}
	}
	if _, err := CompileSet([]string{"ok", "bad host"}); err == nil || !strings.HasPrefix(err.Error(), "[1]") {
		t.Errorf("CompileSet error %v, want one naming index 1", err)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, _ := Compile("reviews")
	if n := testing.AllocsPerRun(100, func() { p.Match("reviews.default.svc.cluster.local:9080") }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// FuzzMatch: arbitrary patterns and authorities never panic, and a compiled
// pattern always matches its own canonical form.
func FuzzMatch(f *testing.F) {
	f.Add("reviews", "reviews.default.svc.cluster.local:9080")
	f.Add("*.example.com", "a.example.com")
	f.Add("r.ns.svc", "[::1]:80")
	f.Fuzz(func(t *testing.T, pattern, authority string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		p.Match(authority)
		if p.kind != kindSuffix && p.kind != kindAny && !p.Match(p.String()) {
			t.Fatalf("%q does not match its own form %q", pattern, p.String())
		}
	})
}

// TestRemembering: the remembered answer is the set's answer, whatever
// the order of the questions, empty authorities and "*" included.
func TestRemembering(t *testing.T) {
	for _, patterns := range [][]string{{"reviews"}, {"*"}, {"a.example.com", "*.example.org"}} {
		s, err := CompileSet(patterns)
		if err != nil {
			t.Fatal(err)
		}
		r := Remember(s)
		for _, a := range []string{"", "reviews", "reviews:9080", "reviews", "details", "", "a.example.com", "b.example.org:1", "b.example.org:1", "x"} {
			if got, want := r.Match(a), s.Match(a); got != want {
				t.Errorf("%v: Match(%q) = %v after the previous questions, want %v", patterns, a, got, want)
			}
		}
	}
}

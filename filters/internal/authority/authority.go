// Package authority decides whether a request's :authority names a service,
// the way a user of a Kubernetes mesh expects.
//
// Inside a cluster the same service is reached as "reviews", "reviews:9080",
// "reviews.default", "reviews.default.svc" or
// "reviews.default.svc.cluster.local:9080"; an Istio VirtualService written
// for "reviews" applies to all of them. The lb filter's "service" and the
// route and fault filters' "hosts" use the patterns below so that a rule
// written the Istio way applies to every spelling of the service.
//
// Patterns (case-insensitive; a request's port is always ignored):
//
//	pattern                              matches
//	"*"                                  every host
//	"*.example.com"                      any host ending in ".example.com"
//	"reviews" (no dot)                   reviews, reviews.<ns>, reviews.<ns>.svc and
//	                                     reviews.<ns>.svc.cluster.local, any namespace <ns>
//	"reviews.default.svc[.cluster.local]" reviews, reviews.default, reviews.default.svc,
//	                                     reviews.default.svc.cluster.local
//	anything else ("example.com")        exactly that host
package authority

import (
	"fmt"
	"strings"

	"github.com/nicrt/nicrt/filters/internal/fasteq"
)

// Host returns the host of an :authority value: the port is removed, as is a
// trailing dot ("reviews:9080" → "reviews", "[::1]:80" → "[::1]").
func Host(authority string) string {
	h := authority
	if len(h) > 0 && h[0] == '[' {
		for i := 1; i < len(h); i++ {
			if h[i] == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		c := h[i]
		if c == ':' {
			h = h[:i]
			break
		}
		if c < '0' || c > '9' {
			break
		}
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}

type kind uint8

const (
	kindAny    kind = iota // "*"
	kindSuffix             // "*.example.com": suffix holds ".example.com"
	kindShort              // "reviews": any namespace
	kindKube               // "reviews.default.svc[.cluster.local]"
	kindExact              // any other name
)

// Pattern is one compiled host pattern.
type Pattern struct {
	kind kind
	name string // service name, exact host, or suffix
	ns   string // namespace, for kindKube
}

// Compile checks and compiles a pattern; the error says what is wrong with it.
func Compile(p string) (Pattern, error) {
	p = strings.ToLower(strings.TrimSuffix(p, "."))
	switch {
	case p == "":
		return Pattern{}, fmt.Errorf("empty host")
	case p == "*":
		return Pattern{kind: kindAny}, nil
	case strings.HasPrefix(p, "*."):
		if err := checkName(p[2:]); err != nil {
			return Pattern{}, err
		}
		return Pattern{kind: kindSuffix, name: p[1:]}, nil
	}
	if err := checkName(p); err != nil {
		return Pattern{}, err
	}
	if !strings.Contains(p, ".") {
		return Pattern{kind: kindShort, name: p}, nil
	}
	for _, suffix := range [...]string{".svc.cluster.local", ".svc"} {
		if base, ok := strings.CutSuffix(p, suffix); ok {
			name, ns, ok := strings.Cut(base, ".")
			if ok && name != "" && ns != "" && !strings.Contains(ns, ".") {
				return Pattern{kind: kindKube, name: name, ns: ns}, nil
			}
		}
	}
	return Pattern{kind: kindExact, name: p}, nil
}

// checkName accepts DNS-style names: letters, digits, '-', '_' and dots
// between non-empty labels. Wildcards other than a leading "*." are refused.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty host name")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return fmt.Errorf("host %q has an empty label", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host %q: character %q is not allowed (only a leading \"*.\" wildcard is)", s, c)
			}
		}
	}
	return nil
}

// String returns the pattern in its canonical written form.
func (p *Pattern) String() string {
	switch p.kind {
	case kindAny:
		return "*"
	case kindSuffix:
		return "*" + p.name
	case kindKube:
		return p.name + "." + p.ns + ".svc.cluster.local"
	default:
		return p.name
	}
}

// Match reports whether the authority (a Host header or :authority value,
// with or without port) names this pattern. It runs on every request, so it
// is written as plain byte loops: no allocation, and few wasm instructions
// (strings.EqualFold's Unicode handling costs thousands per call in a
// wasip1 build).
func (p *Pattern) Match(authority string) bool {
	if p.kind == kindShort && p.matchShortFast(authority) {
		return true
	}
	return p.match(authority)
}

// matchShortFast is the usual spelling of a short name, "reviews" or
// "reviews:9080", exactly. It is a function of its own (as is match)
// because in a wasip1 module every jump inside a function costs in
// proportion to the function's size: kept apart, the common case executes
// a few dozen wasm instructions instead of a thousand.
func (p *Pattern) matchShortFast(authority string) bool {
	n := len(p.name)
	if len(authority) < n || authority[:n] != p.name {
		return false
	}
	return len(authority) == n || authority[n] == ':' && isPort(authority[n+1:])
}

//go:noinline
func (p *Pattern) match(authority string) bool {
	h := Host(authority)
	switch p.kind {
	case kindAny:
		return true
	case kindSuffix:
		return len(h) > len(p.name) && lowerEq(h[len(h)-len(p.name):], p.name)
	case kindExact:
		return lowerEq(h, p.name)
	}
	if len(h) < len(p.name) || !lowerEq(h[:len(p.name)], p.name) {
		return false
	}
	rest := h[len(p.name):]
	if rest == "" {
		return true
	}
	if rest[0] != '.' {
		return false
	}
	rest = rest[1:]
	dot := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			dot = i
			break
		}
	}
	ns, tail := rest, ""
	if dot >= 0 {
		ns, tail = rest[:dot], rest[dot+1:]
	}
	if ns == "" || p.kind == kindKube && !lowerEq(ns, p.ns) {
		return false
	}
	return dot < 0 || lowerEq(tail, "svc") || lowerEq(tail, "svc.cluster.local")
}

func isPort(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerEq reports whether s equals the lowercase ASCII string lower,
// ignoring the case of s's ASCII letters.
func lowerEq(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Set is a list of patterns; it matches when any of them does.
type Set []Pattern

// CompileSet compiles every pattern; the error names the index of the bad one.
func CompileSet(patterns []string) (Set, error) {
	s := make(Set, 0, len(patterns))
	for i, p := range patterns {
		c, err := Compile(p)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		s = append(s, c)
	}
	return s, nil
}

// Match reports whether any pattern matches the authority.
func (s Set) Match(authority string) bool {
	for i := range s {
		if s[i].Match(authority) {
			return true
		}
	}
	return false
}

// Remembering is a Set that remembers its last answer. A proxy sees the
// same few :authority spellings again and again, and in a wasip1 module
// comparing a value with the last one (fasteq.Equal, no byte loop) costs a
// fraction of matching it. The
// zero value matches nothing; it is not safe for concurrent use (a
// proxy-wasm VM runs one callback at a time).
type Remembering struct {
	set   Set
	last  string
	match bool
	valid bool
}

// Remember returns a Remembering for s.
func Remember(s Set) Remembering { return Remembering{set: s} }

// Match reports whether any pattern of the set matches the authority.
func (r *Remembering) Match(authority string) bool {
	if r.valid && fasteq.Equal(authority, r.last) {
		return r.match
	}
	return r.miss(authority)
}

// miss matches an authority other than the last one and remembers it. It is
// out of line to keep Match, which runs on every request, small: in a
// wasip1 module a jump costs in proportion to the size of its function.
//
//go:noinline
func (r *Remembering) miss(authority string) bool {
	r.last, r.match, r.valid = authority, r.set.Match(authority), true
	return r.match
}

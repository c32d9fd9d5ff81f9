package istio

import (
	"regexp"
	"strings"

	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/fasteq"
)

type matchKind uint8

const (
	matchExact matchKind = iota
	matchPrefix
	matchRegex
	matchPresent    // Istio's empty StringMatch in headers: the header must exist
	matchExactFold  // exact, ignoring ASCII case (Istio's ignoreUriCase)
	matchPrefixFold // prefix, ignoring ASCII case
)

// StringMatch is Istio's StringMatch: exact, prefix or regex. A regex is
// RE2 syntax (Go's regexp is RE2, as Istio documents) and must match the
// whole value, as Envoy's safe_regex does.
type StringMatch struct {
	kind  matchKind
	value string
	re    *regexp.Regexp
}

// Match reports whether s satisfies the match. It does not allocate.
// Exact matches, the common kind (Bookinfo's end-user rules), are decided
// here; the others in matchOther. In a wasip1 module a function's every
// jump costs in proportion to its size, and with the whole switch here an
// exact match cost ~270 wasm instructions.
func (m *StringMatch) Match(s string) bool {
	if m.kind == matchExact {
		return fasteq.Equal(s, m.value)
	}
	return m.matchOther(s)
}

// matchOther is Match for every kind but matchExact.
//
//go:noinline
func (m *StringMatch) matchOther(s string) bool {
	switch m.kind {
	case matchPrefix:
		return strings.HasPrefix(s, m.value)
	case matchRegex:
		return m.re.MatchString(s)
	case matchExactFold:
		return strings.EqualFold(s, m.value)
	case matchPrefixFold:
		return len(s) >= len(m.value) && strings.EqualFold(s[:len(m.value)], m.value)
	default:
		return true
	}
}

// ignoreCase makes an exact or prefix match case-insensitive, as Istio's
// ignoreUriCase does; it leaves a regex as it is.
func (m *StringMatch) ignoreCase() {
	switch m.kind {
	case matchExact:
		m.kind = matchExactFold
	case matchPrefix:
		m.kind = matchPrefixFold
	}
}

// stringMatchRules says which forms a StringMatch may take where it appears.
type stringMatchRules struct {
	presence bool // an empty object means "present" (headers, withoutHeaders, queryParams)
	noPrefix bool // prefix is refused (Istio's queryParams)
}

// parseStringMatch reads {"exact"|"prefix"|"regex": "..."}.
func parseStringMatch(v config.Value, rules stringMatchRules) StringMatch {
	o := v.Object()
	var m StringMatch
	n := 0
	if s, ok := o.Get("exact"); ok {
		m.kind, m.value = matchExact, s.String()
		n++
	}
	if s, ok := o.Get("prefix"); ok {
		if rules.noPrefix {
			s.Fail("prefix matching is not supported here (Istio supports only exact and regex for queryParams)")
		}
		m.kind, m.value = matchPrefix, s.String()
		n++
	}
	if s, ok := o.Get("regex"); ok {
		m.kind, m.value = matchRegex, s.String()
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			s.Fail("invalid RE2 regular expression: %v", err)
		}
		m.re = re
		n++
	}
	o.Done()
	switch {
	case n > 1:
		v.Fail("give only one of exact, prefix and regex")
	case n == 0 && rules.presence:
		m.kind = matchPresent
	case n == 0:
		v.Fail("must have one of exact, prefix and regex")
	}
	return m
}

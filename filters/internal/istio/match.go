package istio

import (
	"github.com/nicrt/nicrt/filters/internal/config"
)

type condKind uint8

const (
	condHeader    condKind = iota // the header is present and matches
	condNotHeader                 // withoutHeaders: the header is absent or does not match
	condURI                       // the path without query matches
	condQuery                     // the query parameter is present and matches
)

// cond is one condition of a match block. A block's conditions are one flat
// list, checked in order, so matching a request is a short loop rather than
// a walk over every field a block might have: in a wasip1 module each jump
// inside a function costs in proportion to the function's size.
type cond struct {
	kind  condKind
	h     header // the header read (":path" for condURI and condQuery)
	param string // condQuery: the parameter name
	m     StringMatch
}

// Match is one of Istio's HTTPMatchRequest blocks. Every condition in a block
// must hold (AND); a rule matches when any of its blocks does (OR).
type Match struct {
	// Name is the block's optional name, kept for logs.
	Name string

	conds []cond
}

// Matches reports whether the request satisfies every condition of the block.
func (m *Match) Matches(r *Request) bool {
	for i := range m.conds {
		if !m.conds[i].holds(r) {
			return false
		}
	}
	return true
}

func (c *cond) holds(r *Request) bool {
	switch c.kind {
	case condHeader:
		v, ok := r.header(c.h)
		return ok && c.m.Match(v)
	case condNotHeader:
		// An absent header does not match, so it satisfies the condition.
		v, ok := r.header(c.h)
		return !ok || !c.m.Match(v)
	case condURI:
		return c.m.Match(r.uri(c.h))
	default: // condQuery
		v, ok := r.queryParam(c.h, c.param)
		return ok && c.m.Match(v)
	}
}

// parseMatch reads one HTTPMatchRequest; slots assigns the headers it reads
// their places in a Request's cache.
func parseMatch(v config.Value, slots *headerSlots) Match {
	o := v.Object()
	if o.Len() == 0 {
		v.Fail("an empty match block is not allowed (Istio: HTTPMatchRequest cannot be empty); omit \"match\" to match every request")
	}
	var m Match
	m.Name = o.String("name", "")
	ignoreCase := o.Bool("ignoreUriCase", false)
	if s, ok := o.Get("uri"); ok {
		sm := parseStringMatch(s, stringMatchRules{})
		if ignoreCase {
			sm.ignoreCase()
		}
		m.conds = append(m.conds, cond{kind: condURI, h: slots.ref(":path"), m: sm})
	}
	for _, f := range [...]string{"method", "scheme", "authority"} {
		if s, ok := o.Get(f); ok {
			m.conds = append(m.conds, cond{kind: condHeader, h: slots.ref(":" + f), m: parseStringMatch(s, stringMatchRules{})})
		}
	}
	m.conds = parseHeaderMatches(o, "headers", condHeader, slots, m.conds)
	m.conds = parseHeaderMatches(o, "withoutHeaders", condNotHeader, slots, m.conds)
	if qv, ok := o.Get("queryParams"); ok {
		qo := qv.Object()
		for _, k := range qo.Keys() {
			kv, _ := qo.Get(k)
			if k == "" {
				kv.Fail("empty query parameter name")
			}
			m.conds = append(m.conds, cond{kind: condQuery, h: slots.ref(":path"), param: k,
				m: parseStringMatch(kv, stringMatchRules{presence: true, noPrefix: true})})
		}
	}
	o.Unsupported("port", "nicrt's filters match on the request, not on the listener port")
	o.Unsupported("sourceLabels", "the filter does not know the caller's workload labels")
	o.Unsupported("sourceNamespace", "the filter does not know the caller's namespace")
	o.Unsupported("gateways", "there are no Istio gateways in nicrt")
	o.Unsupported("statPrefix", "the filters name their own metrics")
	o.Done()
	return m
}

// parseHeaderMatches appends a condition of the given kind for each entry
// of a headers or withoutHeaders map.
func parseHeaderMatches(o *config.Object, field string, kind condKind, slots *headerSlots, conds []cond) []cond {
	hv, ok := o.Get(field)
	if !ok {
		return conds
	}
	ho := hv.Object()
	for _, k := range ho.Keys() {
		kv, _ := ho.Get(k)
		switch {
		case k == "uri" || k == "scheme" || k == "method" || k == "authority":
			kv.Fail("Istio ignores the header key %q; use the match's own %q field", k, k)
		default:
			if err := checkHeaderKey(k); err != nil {
				kv.Fail("%v", err)
			}
		}
		conds = append(conds, cond{kind: kind, h: slots.ref(k), m: parseStringMatch(kv, stringMatchRules{presence: true})})
	}
	return conds
}

// checkHeaderKey applies Istio's rule: header keys are lowercase, made of
// letters, digits, '-' and '_'.
func checkHeaderKey(k string) error {
	if k == "" {
		return errorf("empty header name")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'A' && c <= 'Z':
			return errorf("header name %q must be lowercase", k)
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return errorf("header name %q: character %q is not allowed", k, c)
		}
	}
	return nil
}

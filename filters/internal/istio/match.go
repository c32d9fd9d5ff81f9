package istio

import (
	"github.com/nicrt/nicrt/filters/internal/config"
)

type headerMatch struct {
	name string
	m    StringMatch
}

// Match is one of Istio's HTTPMatchRequest blocks. Every condition in a block
// must hold (AND); a rule matches when any of its blocks does (OR).
type Match struct {
	// Name is the block's optional name, kept for logs.
	Name string

	uri, scheme, method, authority *StringMatch
	headers                        []headerMatch
	withoutHeaders                 []headerMatch
	queryParams                    []headerMatch
}

// Matches reports whether the request satisfies every condition of the block.
func (m *Match) Matches(r *Request) bool {
	if m.uri != nil && !m.uri.Match(r.Path()) {
		return false
	}
	if m.method != nil && !matchHeader(r, ":method", m.method) {
		return false
	}
	if m.scheme != nil && !matchHeader(r, ":scheme", m.scheme) {
		return false
	}
	if m.authority != nil && !matchHeader(r, ":authority", m.authority) {
		return false
	}
	for i := range m.headers {
		if !matchHeader(r, m.headers[i].name, &m.headers[i].m) {
			return false
		}
	}
	// withoutHeaders: the request must not match any of them; an absent
	// header does not match, so it satisfies the condition.
	for i := range m.withoutHeaders {
		if matchHeader(r, m.withoutHeaders[i].name, &m.withoutHeaders[i].m) {
			return false
		}
	}
	for i := range m.queryParams {
		v, ok := r.Query(m.queryParams[i].name)
		if !ok || !m.queryParams[i].m.Match(v) {
			return false
		}
	}
	return true
}

func matchHeader(r *Request, name string, m *StringMatch) bool {
	v, ok := r.Header(name)
	return ok && m.Match(v)
}

// parseMatch reads one HTTPMatchRequest.
func parseMatch(v config.Value) Match {
	o := v.Object()
	if o.Len() == 0 {
		v.Fail("an empty match block is not allowed (Istio: HTTPMatchRequest cannot be empty); omit \"match\" to match every request")
	}
	var m Match
	m.Name = o.String("name", "")
	ignoreCase := o.Bool("ignoreUriCase", false)
	if s, ok := o.Get("uri"); ok {
		sm := parseStringMatch(s, stringMatchRules{})
		sm.fold = ignoreCase && sm.kind != matchRegex
		m.uri = &sm
	}
	for _, f := range []struct {
		name string
		dst  **StringMatch
	}{{"scheme", &m.scheme}, {"method", &m.method}, {"authority", &m.authority}} {
		if s, ok := o.Get(f.name); ok {
			sm := parseStringMatch(s, stringMatchRules{})
			*f.dst = &sm
		}
	}
	m.headers = parseHeaderMatches(o, "headers")
	m.withoutHeaders = parseHeaderMatches(o, "withoutHeaders")
	if qv, ok := o.Get("queryParams"); ok {
		qo := qv.Object()
		for _, k := range qo.Keys() {
			kv, _ := qo.Get(k)
			if k == "" {
				kv.Fail("empty query parameter name")
			}
			m.queryParams = append(m.queryParams, headerMatch{name: k, m: parseStringMatch(kv, stringMatchRules{presence: true, noPrefix: true})})
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

func parseHeaderMatches(o *config.Object, field string) []headerMatch {
	hv, ok := o.Get(field)
	if !ok {
		return nil
	}
	ho := hv.Object()
	var out []headerMatch
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
		out = append(out, headerMatch{name: k, m: parseStringMatch(kv, stringMatchRules{presence: true})})
	}
	return out
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

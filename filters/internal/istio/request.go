package istio

import (
	"net/url"
	"strings"
)

// maxSlots is how many distinct headers a configuration's rules read
// through a Request's cache. A configuration naming more (rare: Bookinfo's
// rules read two) reads the rest from the host each time they are needed.
const maxSlots = 16

// HeaderFunc looks up one request header by lowercase name (pseudo-headers
// such as ":path" included) in the host; any error means the header is
// absent. It has the signature of proxywasm.GetHttpRequestHeader, which
// filters pass as it is: one call layer fewer on every header read.
type HeaderFunc func(name string) (value string, err error)

// header names one request header a rule reads, with its slot in a
// Request's cache (-1: not cached). Slots are assigned when the
// configuration is parsed, so at request time a cached header is found by
// index, with no name comparison.
type header struct {
	name string
	slot int
}

// headerSlots assigns cache slots to header names while parsing.
type headerSlots struct{ names []string }

func (s *headerSlots) ref(name string) header {
	for i, n := range s.names {
		if n == name {
			return header{name, i}
		}
	}
	if len(s.names) == maxSlots {
		return header{name, -1}
	}
	s.names = append(s.names, name)
	return header{name, len(s.names) - 1}
}

const (
	slotUnknown uint8 = iota
	slotAbsent
	slotPresent
)

// Request is the view of one HTTP request that rules match against. It asks
// the host for each header at most once, however many rules look at it, and
// only for headers some rule looks at. A filter keeps one Request and
// Resets it for each stream; the zero value needs Reset before use.
type Request struct {
	fetch HeaderFunc
	state [maxSlots]uint8
	vals  [maxSlots]string

	pathDone bool
	path     string // :path without query string and fragment
	query    string // the query string, without '?'
}

// Reset prepares the Request for a new stream whose headers fetch returns.
// Values of the previous stream stay in vals but are never read.
func (r *Request) Reset(fetch HeaderFunc) {
	r.fetch, r.pathDone = fetch, false
	r.state = [maxSlots]uint8{}
}

// header returns a request header's value and whether it is present.
func (r *Request) header(h header) (string, bool) {
	i := uint(h.slot)
	if i >= maxSlots { // -1: not cached
		v, err := r.fetch(h.name)
		return v, err == nil
	}
	if st := r.state[i]; st != slotUnknown {
		return r.vals[i], st == slotPresent
	}
	v, err := r.fetch(h.name)
	if err != nil {
		r.vals[i], r.state[i] = "", slotAbsent
		return "", false
	}
	r.vals[i], r.state[i] = v, slotPresent
	return v, true
}

// splitPath reads :path (through its slot) once per stream.
func (r *Request) splitPath(path header) {
	if r.pathDone {
		return
	}
	r.pathDone = true
	p, _ := r.header(path)
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	r.path, r.query, _ = strings.Cut(p, "?")
}

// uri returns the request path without query string, as Istio's uri match
// sees it.
func (r *Request) uri(path header) string {
	r.splitPath(path)
	return r.path
}

// queryParam returns the first value of a query parameter and whether it
// is present. Names and values are percent-decoded ('+' is a space) when
// they contain escapes; a parameter without '=' has the empty value.
func (r *Request) queryParam(path header, name string) (string, bool) {
	r.splitPath(path)
	q := r.query
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if unescape(k) == name {
			return unescape(v), true
		}
	}
	return "", false
}

// unescape percent-decodes s; it allocates only when s has an escape. A
// malformed escape leaves s as it is.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

package istio

import (
	"net/url"
	"strings"
)

// maxCached is how many distinct headers a Request remembers; rules rarely
// look at more, and lookups past it still work, uncached.
const maxCached = 8

// HeaderFunc looks up one request header by lowercase name (pseudo-headers
// such as ":path" included) in the host.
type HeaderFunc func(name string) (value string, ok bool)

// Request is the view of one HTTP request that rules match against. It asks
// the host for each header at most once, however many rules look at it, and
// only for headers some rule looks at. A filter keeps one Request in its
// per-stream context; the zero value needs Reset before use.
type Request struct {
	fetch   HeaderFunc
	n       int
	names   [maxCached]string
	vals    [maxCached]string
	present [maxCached]bool

	pathDone bool
	path     string // :path without query string and fragment
	query    string // the query string, without '?'
}

// Reset prepares the Request for a new stream whose headers fetch returns.
// Stale cache entries past n are never read, so they are not cleared.
func (r *Request) Reset(fetch HeaderFunc) {
	r.fetch, r.n, r.pathDone = fetch, 0, false
}

// Header returns a request header's value and whether it is present.
func (r *Request) Header(name string) (string, bool) {
	for i := 0; i < r.n; i++ {
		if r.names[i] == name {
			return r.vals[i], r.present[i]
		}
	}
	v, ok := r.fetch(name)
	if r.n < maxCached {
		r.names[r.n], r.vals[r.n], r.present[r.n] = name, v, ok
		r.n++
	}
	return v, ok
}

func (r *Request) splitPath() {
	if r.pathDone {
		return
	}
	r.pathDone = true
	p, _ := r.Header(":path")
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	r.path, r.query, _ = strings.Cut(p, "?")
}

// Path returns the request path without query string, as Istio's uri match sees it.
func (r *Request) Path() string {
	r.splitPath()
	return r.path
}

// Query returns the first value of a query parameter and whether it is
// present. Names and values are percent-decoded ('+' is a space) when they
// contain escapes; a parameter without '=' has the empty value.
func (r *Request) Query(name string) (string, bool) {
	r.splitPath()
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

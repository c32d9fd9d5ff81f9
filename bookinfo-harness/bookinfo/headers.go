package bookinfo

import (
	"net/http"
	"net/textproto"
	"strings"
)

// kv is one header line for an upstream request. Names are sent as listed
// here (lower case, like the original's clients), except User-Agent, which Go's
// request writer would otherwise add a second time.
type kv struct{ name, value string }

// hname is a propagated header: the name sent upstream and the canonical form
// Go's server stores incoming headers under.
type hname struct{ wire, canon string }

func names(wire ...string) []hname {
	out := make([]hname, len(wire))
	for i, w := range wire {
		out[i] = hname{wire: w, canon: textproto.CanonicalMIMEHeaderKey(w)}
		if out[i].canon == "User-Agent" {
			out[i].wire = "User-Agent"
		}
	}
	return out
}

// traceHeaders are the tracing headers every Bookinfo service copies from its
// request to the requests it makes, and sessionHeaders the client's own
// context, in the originals' order.
var (
	traceHeaders = []string{
		"x-request-id",
		"x-ot-span-context",
		"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
		"traceparent", "tracestate",
		"x-cloud-trace-context",
		"grpc-trace-bin",
	}
	sessionHeaders = []string{"user-agent", "cookie", "authorization", "jwt"}
)

// productpagePropagated are the headers productpage copies to every upstream
// call. B3 headers are handled by b3Context (only valid ones are re-injected)
// and end-user comes from the session, not from the request.
var productpagePropagated = names(concat(traceHeaders, []string{"sw8"}, sessionHeaders)...)

// reviewsPropagated are the headers reviews copies to its ratings call: the
// same plus every x-b3-* header verbatim and end-user.
var reviewsPropagated = names(concat(traceHeaders,
	[]string{"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "sw8", "end-user"},
	sessionHeaders)...)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// inHeaders is a request's headers with a note of whether any name is stored
// in a non-canonical case, so lookups can match names case-insensitively
// without scanning the map when (as always behind Go's server) none is.
type inHeaders struct {
	h   http.Header
	odd bool
}

func readHeaders(h http.Header) inHeaders {
	for k := range h {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			return inHeaders{h: h, odd: true}
		}
	}
	return inHeaders{h: h}
}

// appendPropagated appends every value of the listed headers, in list order.
func (in inHeaders) appendPropagated(out []kv, list []hname) []kv {
	for _, n := range list {
		for _, v := range in.h[n.canon] {
			out = append(out, kv{n.wire, v})
		}
	}
	if !in.odd {
		return out
	}
	for k, vs := range in.h {
		c := textproto.CanonicalMIMEHeaderKey(k)
		if c == k {
			continue
		}
		for _, n := range list {
			if n.canon == c {
				for _, v := range vs {
					out = append(out, kv{n.wire, v})
				}
			}
		}
	}
	return out
}

// first returns the first value of the header whose canonical name is canon.
func (in inHeaders) first(canon string) string {
	if vs := in.h[canon]; len(vs) > 0 {
		return vs[0]
	}
	if in.odd {
		for k, vs := range in.h {
			if len(vs) > 0 && len(k) == len(canon) && textproto.CanonicalMIMEHeaderKey(k) == canon {
				return vs[0]
			}
		}
	}
	return ""
}

// validHeaderValue reports whether v can be written on a header line: no
// control characters except horizontal tab. Values that came in through Go's
// server already are; this guards values that came from elsewhere (a session
// cookie, configuration).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// b3Context is a trace context read from B3 headers, as the original
// productpage's OpenTelemetry B3 propagator reads it: the single "b3" header
// wins over the x-b3-* set; the trace id is 16 or 32 hex digits, the span id
// 16, neither all zero; sampled is "1", "true", "True" or "d" (or x-b3-flags
// "1"). Only a valid context is propagated, re-encoded as lower-case hex with
// a 32-digit trace id.
type b3Context struct {
	traceID [32]byte
	spanID  [16]byte
	sampled bool
}

// parseB3 extracts a valid context from the headers; ok is false when there is none.
func parseB3(in inHeaders) (c b3Context, ok bool) {
	var traceID, spanID, sampled, flags string
	if single := in.first("B3"); single != "" {
		sampled = "1" // "deferred" in the b3 spec; the propagator records it
		parts, n := splitN(single, '-', 5)
		switch n {
		case 1:
			sampled = parts[0]
		case 2, 3, 4:
			traceID, spanID = parts[0], parts[1]
			if n >= 3 {
				sampled = parts[2]
			}
		default:
			return c, false
		}
	} else {
		traceID = in.first("X-B3-Traceid")
		spanID = in.first("X-B3-Spanid")
		sampled = in.first("X-B3-Sampled")
		flags = in.first("X-B3-Flags")
	}
	if (len(traceID) != 16 && len(traceID) != 32) || len(spanID) != 16 {
		return c, false
	}
	off := 32 - len(traceID)
	for i := range off {
		c.traceID[i] = '0'
	}
	if !lowerHex(c.traceID[off:], traceID) || !lowerHex(c.spanID[:], spanID) {
		return c, false
	}
	if allZero(c.traceID[:]) || allZero(c.spanID[:]) {
		return c, false
	}
	switch sampled {
	case "1", "true", "True", "d":
		c.sampled = true
	}
	if flags == "1" {
		c.sampled = true
	}
	return c, true
}

// appendTo adds the context's x-b3-* headers to an upstream request.
func (c *b3Context) appendTo(out []kv) []kv {
	s := "0"
	if c.sampled {
		s = "1"
	}
	return append(out,
		kv{"x-b3-traceid", string(c.traceID[:])},
		kv{"x-b3-spanid", string(c.spanID[:])},
		kv{"x-b3-sampled", s})
}

// lowerHex copies hex digits from s into dst in lower case; false if s holds
// anything else.
func lowerHex(dst []byte, s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return false
		}
		dst[i] = c
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

// splitN splits s at sep into at most max parts, like Python's
// str.split(sep, max-1), without allocating.
func splitN(s string, sep byte, max int) (parts [5]string, n int) {
	for n < max-1 {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			break
		}
		parts[n] = s[:i]
		s = s[i+1:]
		n++
	}
	parts[n] = s
	return parts, n + 1
}

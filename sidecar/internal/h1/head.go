package h1

import (
	"fmt"
	"strconv"

	"github.com/nicrt/nicrt/runtime"
)

// Error is a message the codec refuses: Status is the response a server
// should answer with (400, 431, 501, 505...), Offset the byte in the head
// (or body) where the problem is.
type Error struct {
	Status int
	Offset int
	Reason string
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("byte %d: %s", e.Offset, e.Reason)
	}
	return e.Reason
}

func errAt(status, off int, format string, args ...any) *Error {
	return &Error{Status: status, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Framing says how a message body is delimited.
type Framing uint8

const (
	// NoBody: the message has no body.
	NoBody Framing = iota
	// Length: Content-Length bytes follow.
	Length
	// Chunked: chunked transfer coding, possibly with trailers.
	Chunked
	// UntilClose: the body runs until the connection closes (responses only).
	UntilClose
)

// Head is what a parsed message head says beyond its fields: the framing of
// its body and the connection semantics. Parsers reuse its storage.
type Head struct {
	// Request line (requests only). Path is the origin-form path (from an
	// absolute-form target too); Authority is the Host header or the
	// absolute-form target's authority.
	Method, Path, Authority string
	// Status is the response status code (responses only).
	Status int
	// Minor is the HTTP/1.x minor version.
	Minor int
	// Framing and ContentLength (when Framing is Length) delimit the body.
	Framing       Framing
	ContentLength int64
	// Close is set when the connection must close after this message:
	// "connection: close", or HTTP/1.0 without "connection: keep-alive".
	Close bool
	// KeepAlive is set when an HTTP/1.0 message asked for keep-alive.
	KeepAlive bool
	// Expect100 is set when a request carries "expect: 100-continue".
	Expect100 bool

	spans    []fieldSpan
	connOpts []span // names listed in Connection (besides close, keep-alive)
}

type span struct{ off, end int }

type fieldSpan struct {
	name, value span
	kind        fieldKind
}

type fieldKind uint8

const (
	kindPlain fieldKind = iota
	kindHost
	kindHopByHop // dropped when forwarding
)

// Limits bound what a parser accepts.
type Limits struct {
	// MaxFields is the largest number of header (or trailer) fields.
	MaxFields int
}

func (h *Head) reset() {
	spans, opts := h.spans[:0], h.connOpts[:0]
	*h = Head{spans: spans, connOpts: opts, ContentLength: -1}
}

// ParseRequest parses a request head (as returned by Reader.ReadHead) into h
// and appends its fields to f as Proxy-Wasm sees them: ":method", ":path",
// ":authority", ":scheme" ("http"), then every field with a lowercase name
// in arrival order, except Host (which became :authority) and hop-by-hop
// fields (connection, keep-alive, proxy-connection, te, transfer-encoding,
// upgrade, and names the Connection field lists). head is modified (field
// names are lowercased in place); the field strings share one allocation.
func ParseRequest(head []byte, lim Limits, h *Head, f *runtime.Fields) error {
	h.reset()
	line, next := cutLine(head, 0)
	// request-line = method SP request-target SP HTTP-version
	sp1 := indexByte(head[:line.end], ' ', 0)
	if sp1 <= 0 {
		return errAt(400, 0, "malformed request line")
	}
	for i := 0; i < sp1; i++ {
		if !isTchar(head[i]) {
			return errAt(400, i, "invalid character %q in method", head[i])
		}
	}
	sp2 := indexByte(head[:line.end], ' ', sp1+1)
	if sp2 < 0 || sp2 == sp1+1 {
		return errAt(400, sp1+1, "malformed request line")
	}
	for i := sp1 + 1; i < sp2; i++ {
		if c := head[i]; c <= ' ' || c >= 0x7f {
			return errAt(400, i, "invalid character %q in request target", c)
		}
	}
	minor, err := parseVersion(head[sp2+1:line.end], sp2+1)
	if err != nil {
		return err
	}
	h.Minor = minor
	if err := h.scanFields(head, next, lim); err != nil {
		return err
	}
	s := string(head)
	h.Method = s[:sp1]
	target := s[sp1+1 : sp2]
	host, nHost := "", 0
	for _, fs := range h.spans {
		if fs.kind == kindHost {
			host = s[fs.value.off:fs.value.end]
			nHost++
		}
	}
	if nHost > 1 {
		return errAt(400, -1, "more than one host field")
	}
	switch {
	case target[0] == '/':
		h.Path = target
		h.Authority = host
	case target == "*":
		if h.Method != "OPTIONS" {
			return errAt(400, sp1+1, "request target * is only valid for OPTIONS")
		}
		h.Path = target
		h.Authority = host
	case h.Method == "CONNECT":
		return errAt(501, 0, "CONNECT is not supported")
	default:
		auth, path, ok := splitAbsolute(target)
		if !ok {
			return errAt(400, sp1+1, "request target is neither a path nor an http URI")
		}
		// RFC 9112 section 3.2.2: the target's authority wins over Host.
		h.Authority, h.Path = auth, path
	}
	if h.Authority == "" {
		// HTTP/1.0 allows it, but routing and the upstream need a host.
		return errAt(400, -1, "missing or empty host")
	}
	if err := checkAuthority(h.Authority); err != nil {
		return err
	}
	if h.Framing == Chunked && h.Minor == 0 {
		return errAt(400, -1, "transfer-encoding in an HTTP/1.0 request")
	}
	if h.Framing == NoBody && h.ContentLength > 0 {
		h.Framing = Length
	}
	h.Close = h.Close || (h.Minor == 0 && !h.KeepAlive)
	fs := *f
	fs = append(fs,
		runtime.Field{Name: ":method", Value: h.Method},
		runtime.Field{Name: ":path", Value: h.Path},
		runtime.Field{Name: ":authority", Value: h.Authority},
		runtime.Field{Name: ":scheme", Value: "http"})
	*f = h.appendFields(s, fs)
	return nil
}

// ParseResponse parses a response head into h and appends ":status" and the
// end-to-end fields to f, as ParseRequest does. method is the request's
// method (a response to HEAD has no body).
func ParseResponse(head []byte, method string, lim Limits, h *Head, f *runtime.Fields) error {
	h.reset()
	line, next := cutLine(head, 0)
	// status-line = HTTP-version SP status-code SP [ reason-phrase ]
	if line.end < 12 || head[8] != ' ' {
		return errAt(502, 0, "malformed status line")
	}
	minor, err := parseVersion(head[:8], 0)
	if err != nil {
		err.Status = 502
		return err
	}
	h.Minor = minor
	code := 0
	for i := 9; i < 12; i++ {
		c := head[i]
		if c < '0' || c > '9' {
			return errAt(502, i, "malformed status code")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 || (line.end > 12 && head[12] != ' ') {
		return errAt(502, 9, "malformed status code")
	}
	for i := 13; i < line.end; i++ {
		if c := head[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return errAt(502, i, "invalid character %q in reason phrase", c)
		}
	}
	h.Status = code
	if err := h.scanFields(head, next, lim); err != nil {
		err.Status = 502
		return err
	}
	switch {
	case method == "HEAD" || code < 200 || code == 204 || code == 304:
		h.Framing = NoBody
	case h.Framing == Chunked:
		h.ContentLength = -1 // RFC 9112 6.3: transfer-encoding overrides it
	case h.ContentLength >= 0:
		h.Framing = Length
	default:
		h.Framing = UntilClose
		h.Close = true
	}
	h.Close = h.Close || (h.Minor == 0 && !h.KeepAlive)
	s := string(head)
	fs := append(*f, runtime.Field{Name: ":status", Value: statusString(code, s[9:12])})
	*f = h.appendFields(s, fs)
	return nil
}

// ParseTrailers parses a trailer section (field lines and the final empty
// line) into f. Framing fields are refused; hop-by-hop ones dropped.
func ParseTrailers(section []byte, lim Limits, f *runtime.Fields) error {
	var h Head
	h.reset()
	if err := h.scanFields(section, 0, lim); err != nil {
		return err
	}
	if h.Framing != NoBody || h.ContentLength >= 0 {
		return errAt(400, -1, "framing field in trailers")
	}
	*f = h.appendFields(string(section), *f)
	return nil
}

func (h *Head) appendFields(s string, fs runtime.Fields) runtime.Fields {
	for _, sp := range h.spans {
		if sp.kind != kindPlain {
			continue
		}
		name := s[sp.name.off:sp.name.end]
		if len(h.connOpts) > 0 && h.listedInConnection(s, name) {
			continue
		}
		fs = append(fs, runtime.Field{Name: name, Value: s[sp.value.off:sp.value.end]})
	}
	return fs
}

func (h *Head) listedInConnection(s, name string) bool {
	for _, o := range h.connOpts {
		if equalFoldLower(s[o.off:o.end], name) {
			return true
		}
	}
	return false
}

// scanFields validates the field lines of head starting at off, lowercases
// their names in place and records them in h.spans, handling the fields
// that carry framing and connection semantics.
func (h *Head) scanFields(head []byte, off int, lim Limits) *Error {
	for off < len(head) {
		line, next := cutLine(head, off)
		if line.off == line.end {
			if next != len(head) {
				return errAt(400, next, "data after the end of the head")
			}
			return nil
		}
		if c := head[line.off]; c == ' ' || c == '\t' {
			return errAt(400, line.off, "obsolete line folding")
		}
		if len(h.spans) >= lim.MaxFields {
			return errAt(431, line.off, "more than %d fields", lim.MaxFields)
		}
		colon := -1
		for i := line.off; i < line.end; i++ {
			c := head[i]
			if c == ':' {
				colon = i
				break
			}
			if !isTchar(c) {
				return errAt(400, i, "invalid character %q in field name", c)
			}
			if 'A' <= c && c <= 'Z' {
				head[i] = c + ('a' - 'A')
			}
		}
		if colon < 0 {
			return errAt(400, line.off, "field line without a colon")
		}
		if colon == line.off {
			return errAt(400, line.off, "empty field name")
		}
		vs, ve := colon+1, line.end
		for vs < ve && (head[vs] == ' ' || head[vs] == '\t') {
			vs++
		}
		for ve > vs && (head[ve-1] == ' ' || head[ve-1] == '\t') {
			ve--
		}
		for i := vs; i < ve; i++ {
			if c := head[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return errAt(400, i, "invalid character %q in field value", c)
			}
		}
		fs := fieldSpan{name: span{line.off, colon}, value: span{vs, ve}}
		if err := h.special(head, &fs); err != nil {
			return err
		}
		h.spans = append(h.spans, fs)
		off = next
	}
	return errAt(400, len(head), "head does not end with an empty line")
}

// special interprets the fields that affect framing or the connection.
func (h *Head) special(head []byte, fs *fieldSpan) *Error {
	name := head[fs.name.off:fs.name.end]
	val := head[fs.value.off:fs.value.end]
	switch string(name) { // no allocation: the compiler converts in place
	case "host":
		fs.kind = kindHost
	case "content-length":
		if h.Framing == Chunked {
			return errAt(400, fs.name.off, "both content-length and transfer-encoding")
		}
		n, ok := parseContentLength(val)
		if !ok {
			return errAt(400, fs.value.off, "invalid content-length")
		}
		if h.ContentLength >= 0 && h.ContentLength != n {
			return errAt(400, fs.name.off, "conflicting content-length values")
		}
		if h.ContentLength >= 0 {
			fs.kind = kindHopByHop // a duplicate: keep one
		}
		h.ContentLength = n
	case "transfer-encoding":
		fs.kind = kindHopByHop
		if h.ContentLength >= 0 {
			return errAt(400, fs.name.off, "both content-length and transfer-encoding")
		}
		if err := h.transferEncoding(val, fs.value.off); err != nil {
			return err
		}
	case "connection":
		fs.kind = kindHopByHop
		h.connection(val, fs.value.off)
	case "keep-alive", "proxy-connection", "te", "upgrade":
		fs.kind = kindHopByHop
	case "expect":
		if !equalFoldLower(trimOWS(val), "100-continue") {
			return errAt(417, fs.value.off, "unsupported expectation")
		}
		h.Expect100 = true
		fs.kind = kindHopByHop
	}
	return nil
}

// transferEncoding accepts codings ending in "chunked" exactly once; other
// codings cannot be decoded by a proxy that re-frames bodies.
func (h *Head) transferEncoding(val []byte, off int) *Error {
	for i := 0; i < len(val); {
		at := i
		var tok []byte
		tok, i = nextToken(val, i)
		switch {
		case len(tok) == 0:
		case equalFoldLower(tok, "chunked"):
			if h.Framing == Chunked {
				return errAt(400, off+at, "chunked applied twice")
			}
			h.Framing = Chunked
		default:
			return errAt(501, off+at, "unsupported transfer coding %q", tok)
		}
	}
	if h.Framing != Chunked {
		return errAt(400, off, "transfer-encoding without chunked")
	}
	return nil
}

func (h *Head) connection(val []byte, off int) {
	for i := 0; i < len(val); {
		var tok []byte
		tok, i = nextToken(val, i)
		switch {
		case len(tok) == 0:
		case equalFoldLower(tok, "close"):
			h.Close = true
		case equalFoldLower(tok, "keep-alive"):
			h.KeepAlive = true
		default:
			start := off + cap(val) - cap(tok) // tok is a subslice of val
			h.connOpts = append(h.connOpts, span{start, start + len(tok)})
		}
	}
}

func parseVersion(v []byte, off int) (int, *Error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, errAt(400, off, "malformed HTTP version")
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, errAt(505, off, "HTTP version %s is not supported", v)
	}
	return int(v[7] - '0'), nil
}

func parseContentLength(v []byte) (int64, bool) {
	// A list of identical values ("5, 5") is allowed (RFC 9110 8.6).
	var n int64 = -1
	for i := 0; i < len(v); {
		var tok []byte
		tok, i = nextToken(v, i)
		if len(tok) == 0 || len(tok) > 18 {
			return 0, false
		}
		var x int64
		for _, c := range tok {
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
	}
	return n, n >= 0
}

// splitAbsolute splits an absolute-form http(s) target into authority and
// origin-form path.
func splitAbsolute(t string) (authority, path string, ok bool) {
	var rest string
	switch {
	case len(t) > 7 && equalFoldLower(t[:7], "http://"):
		rest = t[7:]
	case len(t) > 8 && equalFoldLower(t[:8], "https://"):
		rest = t[8:]
	default:
		return "", "", false
	}
	end := len(rest)
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' || rest[i] == '?' {
			end = i
			break
		}
	}
	authority, path = rest[:end], rest[end:]
	switch {
	case path == "":
		path = "/"
	case path[0] == '?':
		path = "/" + path
	}
	return authority, path, authority != ""
}

// checkAuthority refuses authorities that cannot be a host[:port]
// (userinfo, paths, whitespace), since routing and the upstream's Host
// depend on it.
func checkAuthority(a string) *Error {
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' || c == '~' || c == '%':
		default:
			return errAt(400, -1, "invalid character %q in host", c)
		}
	}
	return nil
}

// cutLine returns the line starting at off (without its terminator) and
// the offset after the terminator. A line ends with LF or CRLF; a CR
// anywhere else is caught by the character checks.
func cutLine(b []byte, off int) (span, int) {
	i := indexByte(b, '\n', off)
	if i < 0 {
		return span{off, len(b)}, len(b)
	}
	end := i
	if end > off && b[end-1] == '\r' {
		end--
	}
	return span{off, end}, i + 1
}

func indexByte(b []byte, c byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// nextToken returns the element of a comma-separated list starting at i,
// without surrounding whitespace, and where the next one starts.
func nextToken(list []byte, i int) (tok []byte, next int) {
	j := indexByte(list, ',', i)
	if j < 0 {
		j = len(list)
	}
	return trimOWS(list[i:j]), j + 1
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFoldLower compares s with a lowercase ASCII string ignoring case,
// without converting (and allocating) when s is a byte slice.
func equalFoldLower[T string | []byte](s T, lower string) bool {
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

// tchar per RFC 9110 section 5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tchar[c] }

// statusStrings avoids an allocation for the status pseudo-header.
var statusStrings = func() (s [600]string) {
	for i := 100; i < 600; i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusString(code int, fallback string) string {
	if code >= 100 && code < 600 {
		return statusStrings[code]
	}
	return fallback
}

// Package httpframe finds HTTP/1.1 message boundaries in a reassembled byte
// stream, incrementally, the way the NIC must before it can hand a whole
// message to a filter: start line, header fields, then the body as RFC 9112
// section 6 delimits it (Content-Length, chunked transfer coding, no body for
// HEAD/1xx/204/304, until close, tunnels after CONNECT and 101). It parses
// just enough to frame; it never copies or rewrites the bytes, and every
// length it trusts is bounded by Limits.
package httpframe

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind says whether a message is a request or a response.
type Kind uint8

// Message kinds.
const (
	Request Kind = iota
	Response
)

// String returns "request" or "response".
func (k Kind) String() string {
	if k == Request {
		return "request"
	}
	return "response"
}

// Field is one header field; Name and Value alias the stream bytes (Value
// without surrounding whitespace).
type Field struct {
	Name, Value []byte
}

// BodyMode says how a message's body is delimited.
type BodyMode uint8

// Body modes.
const (
	NoBody BodyMode = iota
	Length
	Chunked
	UntilClose
)

// Message is one framed message. Its byte slices alias the buffer passed to
// Framer.Next and are valid until those bytes change (in practice: until the
// caller consumes the message).
type Message struct {
	Kind Kind
	// Len is the message's total size in the stream: any empty lines before
	// it, the head, and the body with its framing.
	Len int
	// HeadLen is the size of the start line, fields and final empty line.
	HeadLen int
	// Start is the offset of the start line (after skipped empty lines).
	Start int
	// Method and Target are a request's; Status and Reason a response's.
	Method, Target []byte
	Status         int
	Reason         []byte
	// Minor is the HTTP/1.x minor version.
	Minor int
	// Fields are the header fields, in order.
	Fields []Field
	// Body is how the body is delimited; ContentLength is its size for
	// Length, and the decoded size for Chunked once complete.
	Body          BodyMode
	ContentLength int64
	// Tunnel is set when the bytes after this message are no longer HTTP
	// (a CONNECT or Upgrade request, a 2xx CONNECT or 101 response).
	Tunnel bool
}

// Header returns the value of the first field named name (ASCII
// case-insensitive), and whether there was one.
func (m *Message) Header(name string) ([]byte, bool) {
	for i := range m.Fields {
		if asciiEqualFold(m.Fields[i].Name, name) {
			return m.Fields[i].Value, true
		}
	}
	return nil, false
}

// Limits bound what a message may make the framer accept.
type Limits struct {
	// MaxHeadBytes bounds the start line plus header fields.
	MaxHeadBytes int
	// MaxFields bounds the number of header fields.
	MaxFields int
	// MaxBodyBytes bounds a body's size (decoded size for chunked).
	MaxBodyBytes int64
	// MaxLineBytes bounds a chunk-size line or trailer line.
	MaxLineBytes int
	// MaxPipelined bounds requests awaiting their response on a Conn.
	MaxPipelined int
}

// DefaultLimits: 64 KiB head, 100 fields, 1 MiB body, 4 KiB chunk lines,
// 64 pipelined requests.
var DefaultLimits = Limits{MaxHeadBytes: 64 << 10, MaxFields: 100, MaxBodyBytes: 1 << 20, MaxLineBytes: 4096, MaxPipelined: 64}

// Error is a framing error: what was wrong and at which byte offset of the
// message (from its first byte). After an Error the stream cannot be framed.
type Error struct {
	Kind   Kind
	Offset int
	Reason string
}

// Error says which message kind, at which byte, and what was wrong.
func (e *Error) Error() string {
	return fmt.Sprintf("http %s: byte %d: %s", e.Kind, e.Offset, e.Reason)
}

// ErrTunnel is returned by Next once the stream has become a tunnel.
var ErrTunnel = errors.New("http: stream is a tunnel after CONNECT/Upgrade; not framed")

type phase uint8

const (
	phHead phase = iota
	phBody
	phChunkSize
	phChunkData
	phChunkCRLF
	phTrailers
	phDone
)

// Framer frames one direction of a connection. Use it through Conn, which
// tells a response framer what its request was.
type Framer struct {
	kind   Kind
	lim    Limits
	tunnel bool
	err    error
	out    Message

	// state of the message being framed, relative to its first byte
	ph        phase
	scan      int // next line to examine
	start     int // offset of the start line
	msg       Message
	chunkLeft int64
	decoded   int64
	fields    []Field
	// for responses
	reqMethod method
}

type method uint8

const (
	methodOther method = iota
	methodHEAD
	methodCONNECT
)

func (f *Framer) fail(off int, format string, args ...any) error {
	f.ph = phDone
	f.err = &Error{Kind: f.kind, Offset: off, Reason: fmt.Sprintf(format, args...)}
	return f.err
}

// Next frames the message at the start of buf. It returns nil, nil when buf
// does not yet hold a whole message; call again with the same start and more
// bytes (eof: the stream ended after buf). Once a message is returned the
// caller must drop its m.Len bytes before the next call. The returned
// Message is reused by the next call.
func (f *Framer) Next(buf []byte, eof bool) (*Message, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.tunnel {
		if len(buf) == 0 {
			return nil, nil
		}
		return nil, ErrTunnel
	}
	for {
		switch f.ph {
		case phHead:
			done, err := f.head(buf)
			if err != nil {
				return nil, err
			}
			if !done {
				if eof && len(buf) > 0 && !onlyEmptyLines(buf) {
					return nil, f.fail(len(buf), "stream ended inside the message head")
				}
				return nil, nil
			}
		case phBody:
			m := &f.msg
			switch m.Body {
			case NoBody:
				return f.complete(m.HeadLen)
			case Length:
				if int64(len(buf)) >= int64(m.HeadLen)+m.ContentLength {
					return f.complete(m.HeadLen + int(m.ContentLength))
				}
				if eof {
					return nil, f.fail(len(buf), "stream ended after %d of %d body bytes", len(buf)-m.HeadLen, m.ContentLength)
				}
				return nil, nil
			case UntilClose:
				if int64(len(buf)-m.HeadLen) > f.lim.MaxBodyBytes {
					return nil, f.fail(len(buf), "body exceeds %d bytes", f.lim.MaxBodyBytes)
				}
				if eof {
					m.ContentLength = int64(len(buf) - m.HeadLen)
					return f.complete(len(buf))
				}
				return nil, nil
			case Chunked:
				f.ph = phChunkSize
				f.scan = m.HeadLen
			}
		case phChunkSize, phChunkData, phChunkCRLF, phTrailers:
			done, err := f.chunks(buf)
			if err != nil {
				return nil, err
			}
			if !done {
				if eof {
					return nil, f.fail(len(buf), "stream ended inside the chunked body")
				}
				return nil, nil
			}
			f.msg.ContentLength = f.decoded
			return f.complete(f.scan)
		}
	}
}

// Tunnel reports whether the stream stopped being HTTP after a tunnel
// message; Err reports a framing error that stopped it.
func (f *Framer) Tunnel() bool { return f.tunnel }

// Err is the framing error that stopped this direction, or nil.
func (f *Framer) Err() error { return f.err }

func (f *Framer) complete(n int) (*Message, error) {
	f.msg.Len = n
	if f.msg.Tunnel {
		f.tunnel = true
	}
	m := f.msg
	f.out = m
	f.reset()
	return &f.out, nil
}

func (f *Framer) reset() {
	fields := f.fields[:0]
	f.ph, f.scan, f.start, f.chunkLeft, f.decoded = phHead, 0, 0, 0, 0
	f.msg = Message{}
	f.fields = fields
}

func onlyEmptyLines(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// line returns the line starting at off (without its CRLF or LF) and the
// offset after its end; ok false if no LF yet.
func line(buf []byte, off int) (l []byte, next int, ok bool) {
	i := bytes.IndexByte(buf[off:], '\n')
	if i < 0 {
		return nil, 0, false
	}
	l = buf[off : off+i]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l, off + i + 1, true
}

func (f *Framer) head(buf []byte) (bool, error) {
	for {
		l, next, ok := line(buf, f.scan)
		if !ok {
			if len(buf)-f.start > f.lim.MaxHeadBytes {
				return false, f.fail(f.start, "head exceeds %d bytes", f.lim.MaxHeadBytes)
			}
			return false, nil
		}
		if next-f.start > f.lim.MaxHeadBytes {
			return false, f.fail(f.start, "head exceeds %d bytes", f.lim.MaxHeadBytes)
		}
		if len(l) == 0 {
			if f.scan == f.start { // empty line before the start line
				if f.kind == Response {
					return false, f.fail(f.scan, "empty line where a start line was expected")
				}
				f.scan, f.start = next, next
				continue
			}
			f.scan = next
			return true, f.parseHead(buf[:next])
		}
		f.scan = next
	}
}

func (f *Framer) parseHead(b []byte) error {
	m := &f.msg
	*m = Message{Kind: f.kind, Start: f.start, HeadLen: len(b)}
	sl, off, _ := line(b, f.start)
	var err error
	if f.kind == Request {
		err = f.requestLine(sl)
	} else {
		err = f.statusLine(sl)
	}
	if err != nil {
		return err
	}
	var cl int64 = -1
	var te []byte
	hasTE := false
	for {
		lineStart := off
		l, next, _ := line(b, off)
		off = next
		if len(l) == 0 {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return f.fail(lineStart, "obsolete line folding is not accepted")
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return f.fail(lineStart, "header line without a field name and colon")
		}
		name := l[:colon]
		if !isToken(name) {
			return f.fail(lineStart, "invalid field name %q", clip(name))
		}
		val := trimOWS(l[colon+1:])
		for i, c := range val {
			if c < ' ' && c != '\t' || c == 0x7f {
				return f.fail(lineStart+colon+1+i, "control character 0x%02x in field value", c)
			}
		}
		if len(f.fields) >= f.lim.MaxFields {
			return f.fail(lineStart, "more than %d header fields", f.lim.MaxFields)
		}
		f.fields = append(f.fields, Field{Name: name, Value: val})
		switch {
		case asciiEqualFold(name, "content-length"):
			n, ok := parseContentLength(val)
			if !ok {
				return f.fail(lineStart, "invalid Content-Length %q", clip(val))
			}
			if cl >= 0 && n != cl {
				return f.fail(lineStart, "conflicting Content-Length values %d and %d", cl, n)
			}
			cl = n
		case asciiEqualFold(name, "transfer-encoding"):
			hasTE = true
			te = val // the last coding is what matters; later fields append
		}
	}
	m.Fields = f.fields
	chunked := hasTE && lastCodingIsChunked(te)
	switch f.kind {
	case Request:
		if _, up := m.Header("upgrade"); up || f.reqMethod == methodCONNECT {
			m.Tunnel = true
		}
		switch {
		case hasTE && !chunked:
			return f.fail(f.start, "request Transfer-Encoding %q does not end in chunked", clip(te))
		case chunked:
			m.Body = Chunked
		case cl > 0:
			m.Body, m.ContentLength = Length, cl
		}
	case Response:
		s := m.Status
		switch {
		case s < 200 || s == 204 || s == 304 || f.reqMethod == methodHEAD:
			m.Body = NoBody
			m.Tunnel = s == 101
		case f.reqMethod == methodCONNECT && s < 300:
			m.Body, m.Tunnel = NoBody, true
		case chunked:
			m.Body = Chunked
		case hasTE:
			m.Body = UntilClose
		case cl >= 0:
			m.Body, m.ContentLength = Length, cl
			if cl == 0 {
				m.Body = NoBody
			}
		default:
			m.Body = UntilClose
		}
	}
	if m.Body == Length && cl > f.lim.MaxBodyBytes {
		return f.fail(f.start, "Content-Length %d exceeds the %d-byte limit", cl, f.lim.MaxBodyBytes)
	}
	f.ph = phBody
	return nil
}

func (f *Framer) requestLine(l []byte) error {
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return f.fail(f.start, "request line %q has no method", clip(l))
	}
	rest := l[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return f.fail(f.start+sp1+1, "request line %q has no target and version", clip(l))
	}
	m := &f.msg
	m.Method, m.Target = l[:sp1], rest[:sp2]
	if !isToken(m.Method) {
		return f.fail(f.start, "invalid method %q", clip(m.Method))
	}
	for i, c := range m.Target {
		if c <= ' ' || c == 0x7f {
			return f.fail(f.start+sp1+1+i, "invalid byte 0x%02x in request target", c)
		}
	}
	minor, ok := parseVersion(rest[sp2+1:])
	if !ok {
		return f.fail(f.start+sp1+sp2+2, "unsupported version %q (want HTTP/1.0 or HTTP/1.1)", clip(rest[sp2+1:]))
	}
	m.Minor = minor
	switch string(m.Method) {
	case "HEAD":
		f.reqMethod = methodHEAD
	case "CONNECT":
		f.reqMethod = methodCONNECT
	default:
		f.reqMethod = methodOther
	}
	return nil
}

func (f *Framer) statusLine(l []byte) error {
	m := &f.msg
	if len(l) < 12 || l[8] != ' ' {
		return f.fail(f.start, "status line %q is not \"HTTP/1.x NNN reason\"", clip(l))
	}
	minor, ok := parseVersion(l[:8])
	if !ok {
		return f.fail(f.start, "unsupported version %q (want HTTP/1.0 or HTTP/1.1)", clip(l[:8]))
	}
	m.Minor = minor
	s := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return f.fail(f.start+9, "status code %q is not three digits", clip(l[9:12]))
		}
		s = s*10 + int(c-'0')
	}
	if s < 100 {
		return f.fail(f.start+9, "status code %d below 100", s)
	}
	if len(l) > 12 {
		if l[12] != ' ' {
			return f.fail(f.start+12, "no space after the status code")
		}
		m.Reason = l[13:]
	}
	m.Status = s
	return nil
}

// boundedLine reads the line at f.scan, refusing one longer than
// MaxLineBytes; ok is false when the line is incomplete or refused (err).
func (f *Framer) boundedLine(buf []byte, what string) (l []byte, next int, ok bool, err error) {
	l, next, ok = line(buf, f.scan)
	if (!ok && len(buf)-f.scan > f.lim.MaxLineBytes) || (ok && next-f.scan > f.lim.MaxLineBytes) {
		return nil, 0, false, f.fail(f.scan, "%s line exceeds %d bytes", what, f.lim.MaxLineBytes)
	}
	return l, next, ok, nil
}

// chunks advances through a chunked body from f.scan; true when the last
// chunk and trailers are complete (f.scan is then the message length).
func (f *Framer) chunks(buf []byte) (bool, error) {
	for {
		switch f.ph {
		case phChunkSize:
			l, next, ok, err := f.boundedLine(buf, "chunk-size")
			if !ok {
				return false, err
			}
			n, ok := parseChunkSize(l)
			if !ok {
				return false, f.fail(f.scan, "invalid chunk-size line %q", clip(l))
			}
			if f.decoded+n > f.lim.MaxBodyBytes {
				return false, f.fail(f.scan, "chunked body exceeds %d bytes", f.lim.MaxBodyBytes)
			}
			f.scan = next
			if n == 0 {
				f.ph = phTrailers
				continue
			}
			f.chunkLeft = n
			f.decoded += n
			f.ph = phChunkData
		case phChunkData:
			if int64(len(buf)-f.scan) < f.chunkLeft {
				return false, nil
			}
			f.scan += int(f.chunkLeft)
			f.chunkLeft = 0
			f.ph = phChunkCRLF
		case phChunkCRLF:
			l, next, ok := line(buf, f.scan)
			if !ok {
				if len(buf)-f.scan >= 2 {
					return false, f.fail(f.scan, "chunk data not followed by CRLF")
				}
				return false, nil
			}
			if len(l) != 0 {
				return false, f.fail(f.scan, "chunk data not followed by CRLF")
			}
			f.scan = next
			f.ph = phChunkSize
		case phTrailers:
			l, next, ok, err := f.boundedLine(buf, "trailer")
			if !ok {
				return false, err
			}
			if len(l) > 0 && bytes.IndexByte(l, ':') <= 0 {
				return false, f.fail(f.scan, "invalid trailer line %q", clip(l))
			}
			f.scan = next
			if len(l) == 0 {
				return true, nil
			}
		}
	}
}

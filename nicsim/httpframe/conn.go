package httpframe

import (
	"fmt"
)

// Conn frames both directions of one HTTP/1.1 connection. It remembers the
// method of each request in order, because a response's framing depends on
// it (a response to HEAD has no body, a 2xx to CONNECT starts a tunnel).
type Conn struct {
	Requests, Responses Framer
	pending             []method // methods of requests awaiting a final response
}

// NewConn returns a Conn with the given limits.
func NewConn(lim Limits) *Conn {
	c := &Conn{}
	c.Reset(lim)
	return c
}

// Reset prepares c for a new connection, keeping its buffers.
func (c *Conn) Reset(lim Limits) {
	rf, sf := c.Requests.fields[:0], c.Responses.fields[:0]
	c.Requests = Framer{kind: Request, lim: lim, fields: rf}
	c.Responses = Framer{kind: Response, lim: lim, fields: sf}
	c.pending = c.pending[:0]
}

// NextRequest frames the next request at the start of buf (see Framer.Next).
func (c *Conn) NextRequest(buf []byte, eof bool) (*Message, error) {
	m, err := c.Requests.Next(buf, eof)
	if m != nil {
		if len(c.pending) >= c.Requests.lim.MaxPipelined {
			return nil, c.Requests.fail(0, "more than %d requests awaiting responses", c.Requests.lim.MaxPipelined)
		}
		c.pending = append(c.pending, c.Requests.reqMethod)
	}
	return m, err
}

// NextResponse frames the next response at the start of buf (see
// Framer.Next). A response with no request seen before it (a capture that
// starts mid-connection) is framed as a response to GET.
func (c *Conn) NextResponse(buf []byte, eof bool) (*Message, error) {
	c.Responses.reqMethod = methodOther
	if len(c.pending) > 0 {
		c.Responses.reqMethod = c.pending[0]
	}
	m, err := c.Responses.Next(buf, eof)
	if m != nil && m.Status >= 200 && len(c.pending) > 0 {
		c.pending = c.pending[:copy(c.pending, c.pending[1:])]
	}
	return m, err
}

// Pending is the number of requests framed whose final response has not
// been framed yet.
func (c *Conn) Pending() int { return len(c.pending) }

// AppendBody appends m's body, decoded from the chunked coding if need be,
// to dst; raw holds the message's m.Len bytes.
func AppendBody(dst []byte, m *Message, raw []byte) ([]byte, error) {
	if len(raw) < m.Len {
		return dst, fmt.Errorf("http: AppendBody: %d bytes given for a %d-byte message", len(raw), m.Len)
	}
	if m.Body != Chunked {
		return append(dst, raw[m.HeadLen:m.Len]...), nil
	}
	off := m.HeadLen
	for {
		l, next, ok := line(raw[:m.Len], off)
		if !ok {
			return dst, fmt.Errorf("http: AppendBody: chunk-size line at byte %d", off)
		}
		n, ok := parseChunkSize(l)
		if !ok || int64(m.Len-next) < n {
			return dst, fmt.Errorf("http: AppendBody: bad chunk at byte %d", off)
		}
		if n == 0 {
			return dst, nil
		}
		dst = append(dst, raw[next:next+int(n)]...)
		_, off, ok = line(raw[:m.Len], next+int(n))
		if !ok {
			return dst, fmt.Errorf("http: AppendBody: chunk end at byte %d", next+int(n))
		}
	}
}

package httpframe

import (
	"errors"
	"strings"
	"testing"
)

type framed struct {
	kind   Kind
	len    int
	status int
	method string
	body   BodyMode
	clen   int64
	tunnel bool
}

// frameAll frames a whole request stream and response stream, feeding bytes
// in pieces of `step` (0 = all at once) to exercise the incremental state.
func frameAll(reqs, resps string, step int) ([]framed, error) {
	c := NewConn(DefaultLimits)
	var out []framed
	run := func(stream string, next func([]byte, bool) (*Message, error)) error {
		buf := []byte{}
		pos := 0
		for {
			eof := pos >= len(stream)
			m, err := next(buf, eof)
			if err != nil {
				return err
			}
			if m != nil {
				f := framed{m.Kind, m.Len, m.Status, string(m.Method), m.Body, m.ContentLength, m.Tunnel}
				out = append(out, f)
				buf = buf[m.Len:]
				continue
			}
			if eof {
				return nil
			}
			n := len(stream) - pos
			if step > 0 {
				n = min(step, n)
			}
			buf = append(buf, stream[pos:pos+n]...)
			pos += n
		}
	}
	if err := run(reqs, c.NextRequest); err != nil {
		return out, err
	}
	return out, run(resps, c.NextResponse)
}

func TestFraming(t *testing.T) {
	get := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	post := "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	chunkReq := "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
	head := "HEAD /h HTTP/1.1\r\n\r\n"
	ok5 := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld"
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n"
	for _, tc := range []struct {
		name        string
		reqs, resps string
		want        []framed
		wantErr     string
	}{
		{"get and content-length", get, ok5, []framed{
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Response, len(ok5), 200, "", Length, 5, false}}, ""},
		{"pipelined keep-alive", get + post + get, ok5 + chunked + ok5, []framed{
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Request, len(post), 0, "POST", Length, 5, false},
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Response, len(ok5), 200, "", Length, 5, false},
			{Response, len(chunked), 200, "", Chunked, 13, false},
			{Response, len(ok5), 200, "", Length, 5, false}}, ""},
		{"chunked request with ext and trailer", chunkReq, "", []framed{
			{Request, len(chunkReq), 0, "POST", Chunked, 5, false}}, ""},
		{"HEAD response has no body", head, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", []framed{
			{Request, len(head), 0, "HEAD", NoBody, 0, false},
			{Response, 39, 200, "", NoBody, 0, false}}, ""},
		{"204 304 and 100-continue", get + get, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", []framed{
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Response, 25, 100, "", NoBody, 0, false},
			{Response, 27, 204, "", NoBody, 0, false},
			{Response, 48, 304, "", NoBody, 0, false}}, ""},
		{"body until close", get, "HTTP/1.0 200 OK\r\n\r\nall of it", []framed{
			{Request, len(get), 0, "GET", NoBody, 0, false},
			{Response, 28, 200, "", UntilClose, 9, false}}, ""},
		{"leading CRLF before request", "\r\n" + get, "", []framed{
			{Request, 2 + len(get), 0, "GET", NoBody, 0, false}}, ""},
		{"bare LF lines", "GET / HTTP/1.1\nHost: x\n\n", "", []framed{
			{Request, 24, 0, "GET", NoBody, 0, false}}, ""},
		{"CONNECT tunnel", "CONNECT h:443 HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", []framed{
			{Request, 26, 0, "CONNECT", NoBody, 0, true},
			{Response, 19, 200, "", NoBody, 0, true}}, ""},
		{"conflicting content-length", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "", nil, "conflicting"},
		{"bad content-length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "", nil, "byte 17: invalid Content-Length"},
		{"request TE not chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "", nil, "does not end in chunked"},
		{"obs-fold", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "", nil, "folding"},
		{"bad version", "GET / HTTP/2.0\r\n\r\n", "", nil, "unsupported version"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "", nil, "invalid field name"},
		{"truncated body", post[:len(post)-2], "", nil, "stream ended after 3 of 5 body bytes"},
		{"truncated head", "GET / HTT", "", nil, "inside the message head"},
		{"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", nil, "invalid chunk-size"},
		{"missing chunk CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", "", nil, "not followed by CRLF"},
		{"bad status", "", "HTTP/1.1 2x0 OK\r\n\r\n", nil, "three digits"},
		{"control char", "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "", nil, "control character"},
	} {
		for _, step := range []int{0, 1, 7} {
			got, err := frameAll(tc.reqs, tc.resps, step)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s (step %d): err = %v, want %q", tc.name, step, err, tc.wantErr)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (step %d): %v", tc.name, step, err)
				continue
			}
			if len(got) != len(tc.want) {
				t.Errorf("%s (step %d): %d messages %+v, want %d", tc.name, step, len(got), got, len(tc.want))
				continue
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("%s (step %d) message %d: %+v, want %+v", tc.name, step, i, got[i], tc.want[i])
				}
			}
		}
	}
}

func TestLimits(t *testing.T) {
	lim := DefaultLimits
	lim.MaxHeadBytes, lim.MaxFields, lim.MaxBodyBytes, lim.MaxPipelined = 64, 2, 10, 1
	c := NewConn(lim)
	for _, tc := range []struct{ in, want string }{
		{"GET / HTTP/1.1\r\nA: " + strings.Repeat("x", 80), "head exceeds 64"},
		{"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "more than 2 header fields"},
		{"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", "exceeds the 10-byte limit"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nB\r\n", "chunked body exceeds 10"},
	} {
		c.Reset(lim)
		_, err := c.NextRequest([]byte(tc.in), false)
		var fe *Error
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
		// The error is sticky.
		if _, err2 := c.NextRequest(nil, false); err2 != err {
			t.Errorf("error not sticky: %v", err2)
		}
	}
	c.Reset(lim)
	two := "GET / HTTP/1.1\r\n\r\n"
	if m, err := c.NextRequest([]byte(two), false); m == nil || err != nil {
		t.Fatal(m, err)
	}
	if _, err := c.NextRequest([]byte(two), false); err == nil || !strings.Contains(err.Error(), "awaiting") {
		t.Errorf("pipelining limit: %v", err)
	}
}

func TestTunnelAfterUpgrade(t *testing.T) {
	c := NewConn(DefaultLimits)
	up := "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
	m, err := c.NextRequest([]byte(up+"\x81\x05hello"), false)
	if err != nil || m == nil || !m.Tunnel {
		t.Fatalf("upgrade request: %+v %v", m, err)
	}
	if _, err := c.NextRequest([]byte("\x81\x05hello"), false); !errors.Is(err, ErrTunnel) {
		t.Errorf("bytes after an upgrade: %v", err)
	}
	if !c.Requests.Tunnel() {
		t.Error("Tunnel() false")
	}
}

func TestHeaderAndBody(t *testing.T) {
	raw := []byte("HTTP/1.1 200 OK\r\ncontent-TYPE:  text/plain \r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	c := NewConn(DefaultLimits)
	m, err := c.NextResponse(raw, false)
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	if v, ok := m.Header("Content-Type"); !ok || string(v) != "text/plain" {
		t.Errorf("Content-Type = %q %v", v, ok)
	}
	if string(m.Reason) != "OK" || m.Minor != 1 {
		t.Errorf("reason %q minor %d", m.Reason, m.Minor)
	}
	body, err := AppendBody(nil, m, raw)
	if err != nil || string(body) != "abcde" {
		t.Errorf("body %q %v", body, err)
	}
}

func TestNoAllocSteadyState(t *testing.T) {
	raw := []byte("GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	c := NewConn(DefaultLimits)
	if n := testing.AllocsPerRun(200, func() {
		if m, _ := c.NextRequest(raw, false); m == nil {
			t.Fatal("no request")
		}
		if m, _ := c.NextResponse(resp, false); m == nil {
			t.Fatal("no response")
		}
	}); n != 0 {
		t.Errorf("%v allocations per exchange", n)
	}
}

func BenchmarkFrameExchange(b *testing.B) {
	raw := []byte("GET /productpage HTTP/1.1\r\nHost: productpage:9080\r\nUser-Agent: fortio\r\nAccept: */*\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello")
	c := NewConn(DefaultLimits)
	b.SetBytes(int64(len(raw) + len(resp)))
	for b.Loop() {
		c.NextRequest(raw, false)
		c.NextResponse(resp, false)
	}
}

// FuzzFraming feeds arbitrary bytes as requests and responses, whole and in
// two pieces: never a panic, framed lengths stay inside the input, and the
// split does not change what is framed.
func FuzzFraming(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nrest",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
	} {
		f.Add([]byte(s), uint16(5), true)
		f.Add([]byte(s), uint16(0), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16, response bool) {
		frame := func(pieces ...[]byte) (lens []int, errText string) {
			c := NewConn(Limits{MaxHeadBytes: 512, MaxFields: 8, MaxBodyBytes: 1024, MaxLineBytes: 64, MaxPipelined: 4})
			next := c.NextRequest
			if response {
				next = c.NextResponse
			}
			var buf []byte
			for i, p := range pieces {
				buf = append(buf, p...)
				eof := i == len(pieces)-1
				for {
					m, err := next(buf, eof)
					if err != nil {
						return lens, err.Error()
					}
					if m == nil {
						break
					}
					if m.Len <= 0 || m.Len > len(buf) || m.HeadLen > m.Len {
						t.Fatalf("framed length %d (head %d) outside buffer of %d", m.Len, m.HeadLen, len(buf))
					}
					lens = append(lens, m.Len)
					buf = buf[m.Len:]
				}
			}
			return lens, ""
		}
		s := int(split) % (len(data) + 1)
		l1, e1 := frame(data)
		l2, e2 := frame(data[:s], data[s:])
		if (e1 == "") != (e2 == "") || len(l1) != len(l2) {
			t.Fatalf("split at %d changes the result: %v %q vs %v %q", s, l1, e1, l2, e2)
		}
		for i := range l1 {
			if l1[i] != l2[i] {
				t.Fatalf("split at %d changes message %d length", s, i)
			}
		}
	})
}

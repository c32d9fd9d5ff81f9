package h1

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nicrt/nicrt/runtime"
)

var lim = Limits{MaxFields: 100}

// fl builds fields from name, value pairs.
func fl(kv ...string) runtime.Fields {
	var f runtime.Fields
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, runtime.Field{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

func fieldsString(f runtime.Fields) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString(x.Name + "=" + x.Value + ";")
	}
	return b.String()
}

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		name, in string
		fields   string // expected fields, "" to skip
		framing  Framing
		cl       int64
		close    bool
		status   int // expected error status, 0 for success
	}{
		{name: "simple", in: "GET /a?b=1 HTTP/1.1\r\nHost: svc:9080\r\nUser-Agent: x\r\n\r\n",
			fields: ":method=GET;:path=/a?b=1;:authority=svc:9080;:scheme=http;user-agent=x;"},
		{name: "bare LF", in: "GET / HTTP/1.1\nhost: h\n\n", fields: ":method=GET;:path=/;:authority=h;:scheme=http;"},
		{name: "OWS trimmed", in: "GET / HTTP/1.1\r\nhost: h\r\nX-A: \t v w \t\r\n\r\n", fields: ":method=GET;:path=/;:authority=h;:scheme=http;x-a=v w;"},
		{name: "empty value", in: "GET / HTTP/1.1\r\nhost: h\r\nx-e:\r\n\r\n", fields: ":method=GET;:path=/;:authority=h;:scheme=http;x-e=;"},
		{name: "content-length", in: "POST / HTTP/1.1\r\nhost: h\r\nContent-Length: 5\r\n\r\n", framing: Length, cl: 5,
			fields: ":method=POST;:path=/;:authority=h;:scheme=http;content-length=5;"},
		{name: "content-length zero", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n", framing: NoBody, cl: 0},
		{name: "content-length list", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 5, 5\r\n\r\n", framing: Length, cl: 5},
		{name: "duplicate content-length", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n", framing: Length, cl: 5,
			fields: ":method=POST;:path=/;:authority=h;:scheme=http;content-length=5;"},
		{name: "chunked", in: "POST / HTTP/1.1\r\nhost: h\r\nTransfer-Encoding: chunked\r\n\r\n", framing: Chunked, cl: -1,
			fields: ":method=POST;:path=/;:authority=h;:scheme=http;"},
		{name: "hop-by-hop removed", in: "GET / HTTP/1.1\r\nhost: h\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: foo\r\nProxy-Connection: x\r\nx-hop: 1\r\nx-end: 2\r\n\r\n",
			fields: ":method=GET;:path=/;:authority=h;:scheme=http;x-end=2;"},
		{name: "connection close", in: "GET / HTTP/1.1\r\nhost: h\r\nconnection: Close\r\n\r\n", close: true},
		{name: "http/1.0 closes", in: "GET / HTTP/1.0\r\nHost: h\r\n\r\n", close: true, fields: ":method=GET;:path=/;:authority=h;:scheme=http;"},
		{name: "http/1.0 without host", in: "GET / HTTP/1.0\r\n\r\n", status: 400},
		{name: "http/1.0 keep-alive", in: "GET / HTTP/1.0\r\nhost: h\r\nconnection: keep-alive\r\n\r\n"},
		{name: "absolute form", in: "GET http://Other:81?q HTTP/1.1\r\nhost: h\r\n\r\n", fields: ":method=GET;:path=/?q;:authority=Other:81;:scheme=http;"},
		{name: "options star", in: "OPTIONS * HTTP/1.1\r\nhost: h\r\n\r\n", fields: ":method=OPTIONS;:path=*;:authority=h;:scheme=http;"},
		{name: "expect", in: "POST / HTTP/1.1\r\nhost: h\r\nexpect: 100-Continue\r\ncontent-length: 1\r\n\r\n", framing: Length, cl: 1},

		{name: "no host", in: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", status: 400},
		{name: "bad host", in: "GET / HTTP/1.1\r\nhost: a b\r\n\r\n", status: 400},
		{name: "userinfo host", in: "GET / HTTP/1.1\r\nhost: u@a\r\n\r\n", status: 400},
		{name: "CL and TE", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n", status: 400},
		{name: "TE and CL", in: "POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n", status: 400},
		{name: "conflicting CL", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n", status: 400},
		{name: "signed CL", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: +3\r\n\r\n", status: 400},
		{name: "huge CL", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 99999999999999999999\r\n\r\n", status: 400},
		{name: "gzip TE", in: "POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "chunked twice", in: "POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked, chunked\r\n\r\n", status: 400},
		{name: "chunked not last", in: "POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked, identity\r\n\r\n", status: 501},
		{name: "TE in 1.0", in: "POST / HTTP/1.0\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n", status: 400},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nhost : h\r\n\r\n", status: 400},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nhost: h\r\nx: a\r\n b\r\n\r\n", status: 400},
		{name: "no colon", in: "GET / HTTP/1.1\r\nhost: h\r\nnocolon\r\n\r\n", status: 400},
		{name: "empty name", in: "GET / HTTP/1.1\r\nhost: h\r\n: v\r\n\r\n", status: 400},
		{name: "bare CR in value", in: "GET / HTTP/1.1\r\nhost: h\r\nx: a\rb\r\n\r\n", status: 400},
		{name: "NUL in value", in: "GET / HTTP/1.1\r\nhost: h\r\nx: a\x00b\r\n\r\n", status: 400},
		{name: "bad method", in: "G(T / HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "no target", in: "GET  HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "space in target", in: "GET /a b HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "non-ascii target", in: "GET /\xff HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "bad version", in: "GET / HTTP/1.x\r\nhost: h\r\n\r\n", status: 400},
		{name: "http2 preface", in: "PRI * HTTP/2.0\r\n\r\n", status: 505},
		{name: "star for GET", in: "GET * HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "connect", in: "CONNECT h:443 HTTP/1.1\r\nhost: h:443\r\n\r\n", status: 501},
		{name: "ftp target", in: "GET ftp://h/ HTTP/1.1\r\nhost: h\r\n\r\n", status: 400},
		{name: "unknown expectation", in: "GET / HTTP/1.1\r\nhost: h\r\nexpect: magic\r\n\r\n", status: 417},
		{name: "too many fields", in: "GET / HTTP/1.1\r\nhost: h\r\n" + strings.Repeat("x: y\r\n", 100) + "\r\n", status: 431},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h Head
			var f runtime.Fields
			err := ParseRequest([]byte(c.in), lim, &h, &f)
			if c.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != c.status {
					t.Fatalf("err = %v, want status %d", err, c.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.fields != "" && fieldsString(f) != c.fields {
				t.Errorf("fields\n got %s\nwant %s", fieldsString(f), c.fields)
			}
			if h.Framing != c.framing {
				t.Errorf("framing %v, want %v", h.Framing, c.framing)
			}
			if c.framing == Length && h.ContentLength != c.cl {
				t.Errorf("content-length %d, want %d", h.ContentLength, c.cl)
			}
			if h.Close != c.close {
				t.Errorf("close %v, want %v", h.Close, c.close)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	for _, c := range []struct {
		name, in, method string
		fields           string
		framing          Framing
		close            bool
		status           int
	}{
		{name: "length", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\n", framing: Length,
			fields: ":status=200;content-length=3;server=s;"},
		{name: "no reason", in: "HTTP/1.1 204\r\n\r\n", framing: NoBody, fields: ":status=204;"},
		{name: "until close", in: "HTTP/1.1 200 OK\r\n\r\n", framing: UntilClose, close: true},
		{name: "head", in: "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", method: "HEAD", framing: NoBody},
		{name: "304", in: "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n", framing: NoBody},
		{name: "chunked wins", in: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", framing: Chunked},
		{name: "1.0 closes", in: "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", framing: Length, close: true},
		{name: "bad status", in: "HTTP/1.1 20x OK\r\n\r\n", status: 502},
		{name: "status 600", in: "HTTP/1.1 600 X\r\n\r\n", status: 502},
		{name: "short", in: "HTTP/1.1 2\r\n\r\n", status: 502},
		{name: "bad field", in: "HTTP/1.1 200 OK\r\nx y: z\r\n\r\n", status: 502},
		{name: "CL and TE", in: "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n", status: 502},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h Head
			var f runtime.Fields
			m := c.method
			if m == "" {
				m = "GET"
			}
			err := ParseResponse([]byte(c.in), m, lim, &h, &f)
			if c.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != c.status {
					t.Fatalf("err = %v, want status %d", err, c.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.fields != "" && fieldsString(f) != c.fields {
				t.Errorf("fields\n got %s\nwant %s", fieldsString(f), c.fields)
			}
			if h.Framing != c.framing || h.Close != c.close {
				t.Errorf("framing %v close %v, want %v %v", h.Framing, h.Close, c.framing, c.close)
			}
		})
	}
}

func TestReadHead(t *testing.T) {
	in := "\r\n\r\nGET / HTTP/1.1\r\nhost: h\r\n\r\nGET /2 HTTP/1.1\nhost: h\n\nrest"
	// One byte at a time exercises every partial-head path.
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 8, 64)
	h1, err := r.ReadHead(64)
	if err != nil || string(h1) != "GET / HTTP/1.1\r\nhost: h\r\n\r\n" {
		t.Fatalf("first head %q, %v", h1, err)
	}
	h2, err := r.ReadHead(64)
	if err != nil || string(h2) != "GET /2 HTTP/1.1\nhost: h\n\n" {
		t.Fatalf("second head %q, %v", h2, err)
	}
	if _, err := r.ReadHead(64); err != io.ErrUnexpectedEOF {
		t.Fatalf("partial head: %v", err)
	}
	r = NewReader(strings.NewReader(""), 8, 64)
	if _, err := r.ReadHead(64); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	r = NewReader(strings.NewReader("GET / HTTP/1.1\r\nx: "+strings.Repeat("a", 100)+"\r\n\r\n"), 8, 64)
	if _, err := r.ReadHead(64); err != ErrHeadTooLarge {
		t.Fatalf("large: %v", err)
	}
}

func readAll(t *testing.T, b *Body) (string, error) {
	t.Helper()
	var out bytes.Buffer
	for {
		p, err := b.Next()
		if err == io.EOF {
			return out.String(), nil
		}
		if err != nil {
			return out.String(), err
		}
		out.Write(p)
	}
}

func TestBody(t *testing.T) {
	for _, c := range []struct {
		name, in  string
		framing   Framing
		cl        int64
		want      string
		trailers  string
		rest      string // what stays buffered for the next message
		errStatus int    // *Error status; -1 for io.ErrUnexpectedEOF
	}{
		{name: "length", in: "hello world", framing: Length, cl: 5, want: "hello", rest: " world"},
		{name: "length short", in: "hel", framing: Length, cl: 5, errStatus: -1},
		{name: "chunked", in: "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT", framing: Chunked, want: "hello world", rest: "NEXT"},
		{name: "chunked upper hex", in: "A\r\n0123456789\r\n0\r\n\r\n", framing: Chunked, want: "0123456789"},
		{name: "trailers", in: "1\r\na\r\n0\r\nx-t: 1\r\nx-u: 2\r\n\r\n", framing: Chunked, want: "a", trailers: "x-t: 1\r\nx-u: 2\r\n\r\n"},
		{name: "until close", in: "all of it", framing: UntilClose, want: "all of it"},
		{name: "bare LF size line", in: "5\nhello\r\n0\r\n\r\n", framing: Chunked, errStatus: 400},
		{name: "missing CRLF after data", in: "5\r\nhelloX\r\n0\r\n\r\n", framing: Chunked, errStatus: 400},
		{name: "bad hex", in: "g\r\n", framing: Chunked, errStatus: 400},
		{name: "negative", in: "-5\r\n", framing: Chunked, errStatus: 400},
		{name: "huge chunk", in: "ffffffffffffffffff\r\n", framing: Chunked, errStatus: 400},
		{name: "truncated chunked", in: "5\r\nhel", framing: Chunked, errStatus: -1},
		{name: "ctl in ext", in: "5;\x01\r\nhello\r\n0\r\n\r\n", framing: Chunked, errStatus: 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(iotest.HalfReader(strings.NewReader(c.in)), 4, 64)
			var b Body
			b.Init(r, c.framing, c.cl, 1024)
			got, err := readAll(t, &b)
			switch {
			case c.errStatus == -1:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("err %v, want unexpected EOF", err)
				}
				return
			case c.errStatus != 0:
				var e *Error
				if !errors.As(err, &e) || e.Status != c.errStatus {
					t.Fatalf("err %v, want status %d", err, c.errStatus)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("body %q, want %q", got, c.want)
			}
			if string(b.Trailers()) != c.trailers {
				t.Errorf("trailers %q, want %q", b.Trailers(), c.trailers)
			}
			for r.Buffered() < len(c.rest) && r.Fill() == nil {
			}
			if string(r.Peek()) != c.rest {
				t.Errorf("left %q, want %q", r.Peek(), c.rest)
			}
		})
	}
}

func TestBodyBuffered(t *testing.T) {
	for _, c := range []struct {
		in      string
		framing Framing
		cl      int64
		want    bool
	}{
		{"hello", Length, 5, true},
		{"hell", Length, 5, false},
		{"5\r\nhello\r\n0\r\n\r\n", Chunked, 0, true},
		{"5\r\nhello\r\n0\r\nx: y\r\n\r\n", Chunked, 0, true},
		{"5\r\nhello\r\n0\r\nx: y\r\n", Chunked, 0, false},
		{"5\r\nhello\r\n", Chunked, 0, false},
	} {
		r := NewReader(strings.NewReader(c.in), 64, 64)
		r.Fill()
		var b Body
		b.Init(r, c.framing, c.cl, 1024)
		if got := b.Buffered(); got != c.want {
			t.Errorf("%q: Buffered %v, want %v", c.in, got, c.want)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	in := "POST http://h:1/p?q HTTP/1.1\r\nHost: ignored\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\n\r\n"
	var h Head
	var f runtime.Fields
	if err := ParseRequest([]byte(in), lim, &h, &f); err != nil {
		t.Fatal(err)
	}
	out, err := AppendRequestHead(nil, f, Chunked, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /p?q HTTP/1.1\r\nhost: h:1\r\nx-a: 1\r\nx-a: 2\r\ntransfer-encoding: chunked\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
	out, err = AppendResponseHead(nil, 404, fl(":status", "200", "x", "y"), Length, 7, ConnClose)
	if err != nil || string(out) != "HTTP/1.1 404 Not Found\r\nx: y\r\ncontent-length: 7\r\nconnection: close\r\n\r\n" {
		t.Fatalf("%q %v", out, err)
	}
	for _, bad := range []runtime.Fields{
		fl(":method", "GET", ":path", "/", ":authority", "h", "x", "a\r\nevil: 1"),
		fl(":method", "GET", ":path", "/", ":authority", "h", "bad name", "v"),
		fl(":method", "G ET", ":path", "/", ":authority", "h"),
		fl(":method", "GET", ":path", "/ x", ":authority", "h"),
		fl(":method", "GET", ":path", "/", ":authority", "h/x"),
	} {
		if _, err := AppendRequestHead(nil, bad, NoBody, 0); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	if got := string(AppendChunk(nil, []byte("hello world!!!!!!"))); got != "11\r\nhello world!!!!!!\r\n" {
		t.Errorf("chunk %q", got)
	}
	tr, _ := AppendTrailers(nil, fl("x-t", "1"))
	if string(tr) != "0\r\nx-t: 1\r\n\r\n" {
		t.Errorf("trailers %q", tr)
	}
}

func TestParseTrailers(t *testing.T) {
	var f runtime.Fields
	if err := ParseTrailers([]byte("X-T: 1\r\nconnection: x\r\n\r\n"), lim, &f); err != nil || fieldsString(f) != "x-t=1;" {
		t.Fatalf("%v %s", err, fieldsString(f))
	}
	f = f[:0]
	if err := ParseTrailers([]byte("content-length: 1\r\n\r\n"), lim, &f); err == nil {
		t.Fatal("framing field in trailers accepted")
	}
}

func TestParseAllocs(t *testing.T) {
	in := []byte("GET /productpage HTTP/1.1\r\nHost: productpage:9080\r\nUser-Agent: fortio.org/fortio-1.75\r\nAccept: */*\r\nContent-Length: 1024\r\nX-Request-Id: 123\r\n\r\n")
	buf := make([]byte, len(in))
	var h Head
	f := make(runtime.Fields, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, in)
		f = f[:0]
		if err := ParseRequest(buf, lim, &h, &f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("ParseRequest: %v allocations, want 1 (the head string)", allocs)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	in := []byte("GET /productpage HTTP/1.1\r\nHost: productpage:9080\r\nUser-Agent: fortio.org/fortio-1.75\r\nAccept: */*\r\nContent-Length: 1024\r\nX-Request-Id: 123\r\n\r\n")
	buf := make([]byte, len(in))
	var h Head
	f := make(runtime.Fields, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, in)
		f = f[:0]
		if err := ParseRequest(buf, lim, &h, &f); err != nil {
			b.Fatal(err)
		}
	}
}

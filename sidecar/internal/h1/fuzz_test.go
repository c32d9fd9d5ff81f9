package h1

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/runtime"
)

var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /p?q=1 HTTP/1.1\r\nhost: svc:80\r\ncontent-length: 3\r\nconnection: keep-alive, x-a\r\nx-a: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n",
	"GET http://a:1/b HTTP/1.1\r\nhost: c\r\n\r\n",
	"OPTIONS * HTTP/1.0\r\nHost: h\r\n\r\n",
	"GET / HTTP/1.1\nhost: h\nx: \t y \n\n",
	"GET / HTTP/1.1\r\nhost: h\r\nexpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: h\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
}

// FuzzParseRequest checks that any head either fails with a status or parses
// into fields that serialize and parse back to the same fields.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var h Head
		var fs runtime.Fields
		err := ParseRequest(append([]byte(nil), in...), lim, &h, &fs)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Status < 400 || e.Status > 599 {
				t.Fatalf("error %v is not an *Error with a 4xx/5xx status", err)
			}
			return
		}
		for _, x := range fs {
			if strings.ToLower(x.Name) != x.Name {
				t.Fatalf("name %q not lowercase", x.Name)
			}
		}
		fr, cl := h.Framing, h.ContentLength
		if fr == NoBody && cl == 0 {
			fr = Length
		}
		out, err := AppendRequestHead(nil, fs, fr, cl)
		if err != nil {
			t.Fatalf("parsed fields do not serialize: %v", err)
		}
		var h2 Head
		var fs2 runtime.Fields
		if err := ParseRequest(out, lim, &h2, &fs2); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		// The writer emits framing fields last; compare the others in order.
		fs.Del("content-length")
		fs2.Del("content-length")
		if fieldsString(fs) != fieldsString(fs2) {
			t.Fatalf("round trip changed fields:\n%s\n%s", fieldsString(fs), fieldsString(fs2))
		}
		if h2.Framing != h.Framing || (h.Framing == Length && h2.ContentLength != h.ContentLength) {
			t.Fatalf("round trip changed framing %v/%d → %v/%d", h.Framing, h.ContentLength, h2.Framing, h2.ContentLength)
		}
	})
}

// FuzzParseResponse checks status-line and field parsing of upstream
// responses never panics and yields a 502-class error or a valid status.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
		"HTTP/1.0 204\r\n\r\n",
		"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		m := "GET"
		if head {
			m = "HEAD"
		}
		var h Head
		var fs runtime.Fields
		if err := ParseResponse(append([]byte(nil), in...), m, lim, &h, &fs); err != nil {
			if e, ok := err.(*Error); !ok || e.Status == 0 {
				t.Fatalf("error %v has no status", err)
			}
			return
		}
		if h.Status < 100 || h.Status > 599 || fs[0].Name != ":status" {
			t.Fatalf("status %d, first field %v", h.Status, fs[0])
		}
		if _, err := AppendResponseHead(nil, h.Status, fs, h.Framing, h.ContentLength, ConnDefault); err != nil {
			t.Fatalf("parsed fields do not serialize: %v", err)
		}
	})
}

// FuzzChunked decodes chunked bodies and compares with net/http's decoder:
// whatever this codec accepts, the standard library must decode to the
// same bytes (it may accept more: this codec is stricter).
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"3;a=b\r\nabc\r\n0\r\nx-t: 1\r\n\r\n",
		"1\r\na\r\n1\r\nb\r\n0\r\n\r\n",
		"ffffff\r\n",
		"0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		r := NewReader(bytes.NewReader(in), int(size%64)+1, 256)
		var b Body
		b.Init(r, Chunked, -1, 1024)
		var got bytes.Buffer
		for {
			p, err := b.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			got.Write(p)
		}
		// Our decoder consumed a complete body: compare with net/http,
		// which stops after the last chunk (before the trailers).
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("net/http rejects a body this codec accepted (%q): %v", in, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("decoded %q, net/http %q", got.Bytes(), want)
		}
		if len(b.Trailers()) > 0 {
			var tf runtime.Fields
			_ = ParseTrailers(b.Trailers(), lim, &tf) // must not panic
		}
	})
}

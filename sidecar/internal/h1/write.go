package h1

import (
	"net/http"
	"strconv"

	"github.com/nicrt/nicrt/runtime"
)

// ConnHeader is the connection field a writer adds to a response.
type ConnHeader uint8

const (
	// ConnDefault adds nothing (HTTP/1.1 keep-alive).
	ConnDefault ConnHeader = iota
	// ConnClose adds "connection: close".
	ConnClose
	// ConnKeepAlive adds "connection: keep-alive" (for HTTP/1.0 peers).
	ConnKeepAlive
)

// AppendRequestHead appends a request head built from f: the request line
// from ":method" and ":path", "host" from ":authority", every other
// non-pseudo field except content-length and transfer-encoding, then the
// framing fields for fr ("content-length: n" for Length, "transfer-encoding:
// chunked" for Chunked). Filters may have edited f, so every name and value
// is checked: a name that is not a token or a value containing CR, LF or
// NUL is refused (it would let a filter inject fields or split messages).
func AppendRequestHead(dst []byte, f runtime.Fields, fr Framing, contentLength int64) ([]byte, error) {
	var method, path, authority string
	for i := range f {
		switch f[i].Name {
		case ":method":
			method = f[i].Value
		case ":path":
			path = f[i].Value
		case ":authority":
			authority = f[i].Value
		}
	}
	if method == "" || !isToken(method) {
		return dst, &Error{Status: 500, Offset: -1, Reason: "invalid :method " + strconv.Quote(method)}
	}
	if path == "" || !isTarget(path) {
		return dst, &Error{Status: 500, Offset: -1, Reason: "invalid :path " + strconv.Quote(path)}
	}
	if checkAuthority(authority) != nil {
		return dst, &Error{Status: 500, Offset: -1, Reason: "invalid :authority " + strconv.Quote(authority)}
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nhost: "...)
	dst = append(dst, authority...)
	dst = append(dst, "\r\n"...)
	dst, err := appendFields(dst, f)
	if err != nil {
		return dst, err
	}
	dst = appendFraming(dst, fr, contentLength)
	return append(dst, "\r\n"...), nil
}

// AppendResponseHead appends a response head: the status line for status,
// every non-pseudo field of f except content-length and transfer-encoding
// (checked as AppendRequestHead does), the framing fields and the
// connection field.
func AppendResponseHead(dst []byte, status int, f runtime.Fields, fr Framing, contentLength int64, conn ConnHeader) ([]byte, error) {
	dst = AppendStatusLine(dst, status)
	dst, err := appendFields(dst, f)
	if err != nil {
		return dst, err
	}
	dst = appendFraming(dst, fr, contentLength)
	switch conn {
	case ConnClose:
		dst = append(dst, "connection: close\r\n"...)
	case ConnKeepAlive:
		dst = append(dst, "connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...), nil
}

// AppendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func AppendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	reason := http.StatusText(status)
	if reason == "" {
		reason = "Unknown"
	}
	dst = append(dst, reason...)
	return append(dst, "\r\n"...)
}

func appendFraming(dst []byte, fr Framing, contentLength int64) []byte {
	switch fr {
	case Length:
		dst = append(dst, "content-length: "...)
		dst = strconv.AppendInt(dst, contentLength, 10)
		dst = append(dst, "\r\n"...)
	case Chunked:
		dst = append(dst, "transfer-encoding: chunked\r\n"...)
	}
	return dst
}

func appendFields(dst []byte, f runtime.Fields) ([]byte, error) {
	for i := range f {
		n, v := f[i].Name, f[i].Value
		if len(n) > 0 && n[0] == ':' {
			continue
		}
		if n == "content-length" || n == "transfer-encoding" {
			continue
		}
		if !isToken(n) {
			return dst, &Error{Status: 500, Offset: -1, Reason: "invalid field name " + strconv.Quote(n)}
		}
		if !isFieldValue(v) {
			return dst, &Error{Status: 500, Offset: -1, Reason: "invalid value for field " + n}
		}
		dst = append(dst, n...)
		dst = append(dst, ": "...)
		dst = append(dst, v...)
		dst = append(dst, "\r\n"...)
	}
	return dst, nil
}

// AppendTrailers appends the last chunk and a trailer section.
func AppendTrailers(dst []byte, f runtime.Fields) ([]byte, error) {
	dst = append(dst, "0\r\n"...)
	dst, err := appendFields(dst, f)
	if err != nil {
		return dst, err
	}
	return append(dst, "\r\n"...), nil
}

// AppendChunk appends one chunk holding p (nothing for an empty p: an empty
// chunk would end the body).
func AppendChunk(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(p))
	dst = append(dst, p...)
	return append(dst, "\r\n"...)
}

// AppendChunkHeader appends the size line of a chunk of n bytes; the caller
// writes the data and then "\r\n".
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 16)
	return append(dst, "\r\n"...)
}

// LastChunk ends a chunked body without trailers.
const LastChunk = "0\r\n\r\n"

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

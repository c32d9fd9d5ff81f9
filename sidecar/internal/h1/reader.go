// Package h1 is the sidecar's HTTP/1.1 codec: a buffered reader that hands
// out slices of its own buffer, message-head parsers that produce Proxy-Wasm
// header maps (runtime.Fields) directly, body framing (Content-Length,
// chunked with trailers, close-delimited) and writers.
//
// Why not net/http: a proxy hop must not pay for an http.Request, an
// http.Header map, canonicalized names and a goroutine per response body.
// Here a head costs one string allocation (the whole head, from which every
// name and value is a substring), bodies move as slices of the connection's
// buffer, and everything is re-framed on output, so no byte the peer sent
// is forwarded without having been parsed (no request smuggling through
// disagreeing framing). docs/benchmarks.md has the measured comparison.
//
// The parsers follow RFC 9112 strictly where leniency opens desync attacks
// (Content-Length and Transfer-Encoding together, differing lengths,
// whitespace before the colon, obs-fold, bare CR, chunk lines without CRLF)
// and leniently where it does not (bare LF as a head line terminator,
// empty lines before a request).
package h1

import (
	"bytes"
	"errors"
	"io"
)

// Reader buffers a connection's input and hands out slices of its buffer,
// valid until the next call that reads.
type Reader struct {
	src  io.Reader
	buf  []byte
	r, w int
	max  int // the buffer never grows beyond this
	err  error
}

// NewReader returns a Reader over src with an initial buffer of size bytes
// that may grow to max bytes (the largest message head accepted).
func NewReader(src io.Reader, size, max int) *Reader {
	if max < size {
		max = size
	}
	return &Reader{src: src, buf: make([]byte, size), max: max}
}

// Reset points the reader at a new source and drops buffered data.
func (b *Reader) Reset(src io.Reader) {
	b.src, b.r, b.w, b.err = src, 0, 0, nil
}

// Buffered returns the number of unread bytes in the buffer.
func (b *Reader) Buffered() int { return b.w - b.r }

// Peek returns the unread buffered bytes without consuming them.
func (b *Reader) Peek() []byte { return b.buf[b.r:b.w] }

// Discard consumes n buffered bytes.
func (b *Reader) Discard(n int) { b.r += n }

// Err returns the sticky read error, if any.
func (b *Reader) Err() error { return b.err }

// Fill reads at least one more byte into the buffer, compacting it or
// growing it (up to its maximum) to make room. It returns the read error;
// errFull when the buffer is at its maximum and full.
func (b *Reader) Fill() error {
	if b.err != nil {
		return b.err
	}
	if b.r > 0 && b.r == b.w {
		b.r, b.w = 0, 0
	}
	if b.w == len(b.buf) {
		switch {
		case b.r > 0:
			n := copy(b.buf, b.buf[b.r:b.w])
			b.r, b.w = 0, n
		case len(b.buf) < b.max:
			nb := make([]byte, min(2*len(b.buf), b.max))
			copy(nb, b.buf[b.r:b.w])
			b.buf = nb
		default:
			return errFull
		}
	}
	for i := 0; i < 100; i++ {
		n, err := b.src.Read(b.buf[b.w:])
		b.w += n
		if err != nil {
			b.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	b.err = io.ErrNoProgress
	return b.err
}

var errFull = errors.New("h1: buffer full")

// maxLeadingEmptyLines bounds the empty lines skipped before a request line
// (RFC 9112 section 2.2 asks servers to ignore at least one).
const maxLeadingEmptyLines = 8

// TryHead returns a complete message head (request or status line, fields
// and the terminating empty line) when one is already buffered, consuming
// it. Empty lines before the head are skipped. It never reads.
func (b *Reader) TryHead() ([]byte, bool) {
	for i := 0; i < maxLeadingEmptyLines && b.r < b.w; i++ {
		switch {
		case b.buf[b.r] == '\n':
			b.r++
		case b.buf[b.r] == '\r' && b.r+1 < b.w && b.buf[b.r+1] == '\n':
			b.r += 2
		default:
			i = maxLeadingEmptyLines
		}
	}
	p := b.buf[b.r:b.w]
	if n := headEnd(p); n > 0 {
		b.r += n
		return p[:n], true
	}
	return nil, false
}

// ReadHead reads until a complete head of at most limit bytes is buffered
// and returns it, consumed. Errors: io.EOF when the peer closed before
// sending anything, io.ErrUnexpectedEOF when it closed mid-head,
// ErrHeadTooLarge, or the connection's read error (e.g. a timeout).
func (b *Reader) ReadHead(limit int) ([]byte, error) {
	for {
		if h, ok := b.TryHead(); ok {
			if len(h) > limit {
				return nil, ErrHeadTooLarge
			}
			return h, nil
		}
		if b.w-b.r >= limit {
			return nil, ErrHeadTooLarge
		}
		empty := b.w == b.r
		if err := b.Fill(); err != nil {
			if err == errFull {
				return nil, ErrHeadTooLarge
			}
			if err == io.EOF && !empty {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// headEnd returns the length of the head at the start of p (through the
// empty line that ends it), or 0 when p holds no complete head.
func headEnd(p []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(p) && p[i] == '\n':
			return i + 1
		case i+1 < len(p) && p[i] == '\r' && p[i+1] == '\n':
			return i + 2
		}
	}
}

// ErrHeadTooLarge reports a message head beyond the configured limit.
var ErrHeadTooLarge = &Error{Status: 431, Reason: "message head too large"}

package h1

import (
	"bytes"
	"io"
)

var crlfcrlf = []byte("\r\n\r\n")

// Body reads one message body from a Reader according to its framing,
// returning pieces of the reader's buffer (no copy).
type Body struct {
	r       *Reader
	framing Framing
	remain  int64 // Length: bytes left; Chunked: bytes left in the chunk
	state   chunkState
	// trailers holds a copy of the raw trailer section, if any.
	trailers []byte
	// read counts the body bytes returned so far.
	read int64
	// off counts every byte consumed (framing included), for error offsets.
	off int64
	// maxTrailers bounds the trailer section.
	maxTrailers int
}

type chunkState uint8

const (
	chunkSize chunkState = iota
	chunkData
	chunkDataEnd
	chunkTrailers
	bodyDone
)

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4096

// Init prepares b to read a body with the given framing from r;
// contentLength is used for Length. maxTrailers bounds a chunked body's
// trailer section.
func (b *Body) Init(r *Reader, f Framing, contentLength int64, maxTrailers int) {
	tr := b.trailers[:0]
	*b = Body{r: r, framing: f, remain: contentLength, trailers: tr, maxTrailers: maxTrailers}
	switch {
	case f == NoBody || (f == Length && contentLength == 0):
		b.state = bodyDone
	case f == Chunked:
		b.state = chunkSize
	default:
		b.state = chunkData
	}
}

// Done reports whether the whole body has been read.
func (b *Body) Done() bool { return b.state == bodyDone }

// Read returns the number of body bytes returned so far.
func (b *Body) Read() int64 { return b.read }

// Trailers returns the raw trailer section of a chunked body (field lines
// and the final empty line), or nil; valid after Next returned io.EOF.
func (b *Body) Trailers() []byte {
	if len(b.trailers) == 0 {
		return nil
	}
	return b.trailers
}

// Buffered reports whether the rest of the body is already in the
// reader's buffer, so a caller can forward it without waiting.
func (b *Body) Buffered() bool {
	switch {
	case b.state == bodyDone:
		return true
	case b.framing == Length:
		return int64(b.r.Buffered()) >= b.remain
	case b.framing == Chunked:
		return chunkedComplete(b.r.Peek(), b.state, b.remain)
	}
	return false
}

// Next returns the next piece of the body: a slice of the reader's buffer,
// valid until the next call. At the end of the body it returns (nil, io.EOF).
// A peer that closes early yields io.ErrUnexpectedEOF; malformed chunk
// framing an *Error.
func (b *Body) Next() ([]byte, error) {
	for {
		switch b.state {
		case bodyDone:
			return nil, io.EOF
		case chunkSize:
			if err := b.readChunkSize(); err != nil {
				return nil, err
			}
		case chunkDataEnd:
			if err := b.need(2); err != nil {
				return nil, err
			}
			p := b.r.Peek()
			if p[0] != '\r' || p[1] != '\n' {
				return nil, &Error{Status: 400, Offset: int(b.off), Reason: "chunk data not followed by CRLF"}
			}
			b.consume(2)
			b.state = chunkSize
		case chunkTrailers:
			if err := b.readTrailers(); err != nil {
				return nil, err
			}
		default: // Length, chunk data, until close
			if b.r.Buffered() == 0 {
				if err := b.r.Fill(); err != nil {
					if err == io.EOF {
						if b.framing == UntilClose {
							b.state = bodyDone
							return nil, io.EOF
						}
						return nil, io.ErrUnexpectedEOF
					}
					return nil, err
				}
			}
			p := b.r.Peek()
			if b.framing != UntilClose && int64(len(p)) > b.remain {
				p = p[:b.remain]
			}
			b.consume(len(p))
			b.read += int64(len(p))
			if b.framing != UntilClose {
				b.remain -= int64(len(p))
				if b.remain == 0 {
					if b.framing == Length {
						b.state = bodyDone
					} else {
						b.state = chunkDataEnd
					}
				}
			}
			return p, nil
		}
	}
}

func (b *Body) consume(n int) {
	b.r.Discard(n)
	b.off += int64(n)
}

// need makes at least n bytes available in the reader.
func (b *Body) need(n int) error {
	for b.r.Buffered() < n {
		if err := b.r.Fill(); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// line returns the next CRLF-terminated line (without CRLF), unconsumed,
// and its length with the terminator.
func (b *Body) line(limit int) ([]byte, int, error) {
	for {
		p := b.r.Peek()
		if i := indexByte(p, '\n', 0); i >= 0 {
			if i == 0 || p[i-1] != '\r' {
				return nil, 0, &Error{Status: 400, Offset: int(b.off) + i, Reason: "chunked framing line not terminated by CRLF"}
			}
			return p[:i-1], i + 1, nil
		}
		if len(p) >= limit {
			return nil, 0, &Error{Status: 400, Offset: int(b.off), Reason: "chunk framing line too long"}
		}
		if err := b.r.Fill(); err != nil {
			if err == io.EOF {
				return nil, 0, io.ErrUnexpectedEOF
			}
			if err == errFull {
				return nil, 0, &Error{Status: 400, Offset: int(b.off), Reason: "chunk framing line too long"}
			}
			return nil, 0, err
		}
	}
}

func (b *Body) readChunkSize() error {
	l, n, err := b.line(maxChunkLine)
	if err != nil {
		return err
	}
	size, ok := parseChunkSize(l)
	if !ok {
		return &Error{Status: 400, Offset: int(b.off), Reason: "malformed chunk size line"}
	}
	b.consume(n)
	if size == 0 {
		b.state = chunkTrailers
		return nil
	}
	b.remain = size
	b.state = chunkData
	return nil
}

// parseChunkSize parses "HEX [BWS ; ext...]"; extensions are ignored but
// must not contain control characters.
func parseChunkSize(l []byte) (int64, bool) {
	var size int64
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false // would overflow or is absurd
		}
		size = size<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := l[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	for _, c := range rest {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return 0, false
		}
	}
	return size, true
}

// readTrailers reads the trailer section after the last chunk.
func (b *Body) readTrailers() error {
	b.trailers = b.trailers[:0]
	for {
		l, n, err := b.line(maxChunkLine)
		if err != nil {
			return err
		}
		if len(b.trailers)+n > b.maxTrailers {
			return &Error{Status: 431, Offset: int(b.off), Reason: "trailer section too large"}
		}
		if len(l) == 0 {
			if len(b.trailers) > 0 {
				b.trailers = append(b.trailers, '\r', '\n')
			}
			b.consume(n)
			b.state = bodyDone
			return nil
		}
		b.trailers = append(b.trailers, b.r.Peek()[:n]...)
		b.consume(n)
	}
}

// chunkedComplete reports whether p holds the rest of a chunked body given
// the current state, without consuming anything.
func chunkedComplete(p []byte, st chunkState, remain int64) bool {
	for i := 0; i < 1000; i++ {
		switch st {
		case chunkData:
			if int64(len(p)) < remain {
				return false
			}
			p = p[remain:]
			st = chunkDataEnd
		case chunkDataEnd:
			if len(p) < 2 {
				return false
			}
			p = p[2:]
			st = chunkSize
		case chunkSize:
			j := indexByte(p, '\n', 0)
			if j < 1 {
				return false
			}
			size, ok := parseChunkSize(p[:j-1])
			if !ok {
				return true // let Next report the error
			}
			p = p[j+1:]
			if size == 0 {
				st = chunkTrailers
			} else {
				st, remain = chunkData, size
			}
		case chunkTrailers:
			return (len(p) >= 2 && p[0] == '\r' && p[1] == '\n') || bytes.Index(p, crlfcrlf) >= 0
		default:
			return true
		}
	}
	return false
}

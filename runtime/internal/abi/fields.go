package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Pair is one key/value of a serialized map, as views into the encoded bytes.
type Pair struct{ Key, Value []byte }

// MaxPairs bounds the number of pairs a decoder accepts, so a hostile count
// cannot make the host allocate gigabytes before the length check fails.
const MaxPairs = 1 << 16

// ErrTruncated reports a serialized map shorter than its header claims.
var ErrTruncated = errors.New("serialized map is truncated")

// EncodedSize returns the number of bytes Encode writes for n pairs whose
// keys and values total kv bytes: a u32 count, a (u32, u32) length pair per
// entry, then each key and value followed by a NUL.
func EncodedSize(n, kv int) int {
	if n == 0 {
		return 4
	}
	return 4 + 8*n + kv + 2*n
}

// MapWriter encodes a map into a buffer the caller sized with EncodedSize.
// It writes straight into b (which may be guest memory), so the host never
// builds the map twice.
type MapWriter struct {
	b    []byte
	n    int // pairs written
	data int // next key/value offset
}

// NewMapWriter starts encoding n pairs into b.
func NewMapWriter(b []byte, n int) MapWriter {
	binary.LittleEndian.PutUint32(b, uint32(n))
	return MapWriter{b: b, data: 4 + 8*n}
}

// Add appends one pair.
func (w *MapWriter) Add(k, v string) {
	h := 4 + 8*w.n
	binary.LittleEndian.PutUint32(w.b[h:], uint32(len(k)))
	binary.LittleEndian.PutUint32(w.b[h+4:], uint32(len(v)))
	w.data += copy(w.b[w.data:], k)
	w.b[w.data] = 0
	w.data++
	w.data += copy(w.b[w.data:], v)
	w.b[w.data] = 0
	w.data++
	w.n++
}

// DecodeMap parses a serialized map and calls fn for each pair in order. The
// pair slices alias b. An empty input, or a lone zero byte, is an empty map
// (both encodings are allowed by the specification).
func DecodeMap(b []byte, fn func(p Pair)) error {
	if len(b) == 0 || (len(b) == 1 && b[0] == 0) {
		return nil
	}
	if len(b) < 4 {
		return fmt.Errorf("%w: %d bytes, need at least 4 for the count", ErrTruncated, len(b))
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > MaxPairs {
		return fmt.Errorf("serialized map claims %d pairs, more than the limit %d", n, MaxPairs)
	}
	hdr := 4 + 8*n
	if len(b) < hdr {
		return fmt.Errorf("%w: %d pairs need %d header bytes, have %d", ErrTruncated, n, hdr, len(b))
	}
	off := hdr
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		// Check each step against the remaining length to avoid overflow on 32-bit sums.
		if kl > len(b)-off || len(b)-off-kl < 1 {
			return fmt.Errorf("%w: key %d (%d bytes) at offset %d runs past the end (%d)", ErrTruncated, i, kl, off, len(b))
		}
		k := b[off : off+kl]
		off += kl
		if b[off] != 0 {
			return fmt.Errorf("serialized map: key %d at offset %d is not NUL-terminated", i, off-kl)
		}
		off++
		if vl > len(b)-off || len(b)-off-vl < 1 {
			return fmt.Errorf("%w: value %d (%d bytes) at offset %d runs past the end (%d)", ErrTruncated, i, vl, off, len(b))
		}
		v := b[off : off+vl]
		off += vl
		if b[off] != 0 {
			return fmt.Errorf("serialized map: value %d at offset %d is not NUL-terminated", i, off-vl)
		}
		off++
		fn(Pair{Key: k, Value: v})
	}
	if off != len(b) {
		return fmt.Errorf("serialized map: %d trailing bytes after %d pairs", len(b)-off, n)
	}
	return nil
}

// SplitPath splits a property path as guests send it: segments separated by
// NUL, an optional trailing NUL ignored. fn receives views into b. It returns
// the number of segments.
func SplitPath(b []byte, fn func(i int, seg []byte)) int {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return 0
	}
	i, start := 0, 0
	for j := 0; j <= len(b); j++ {
		if j == len(b) || b[j] == 0 {
			fn(i, b[start:j])
			i++
			start = j + 1
		}
	}
	return i
}

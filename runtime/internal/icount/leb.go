package icount

import "errors"

// LEB128 readers over a byte slice. Each returns the position just past the
// number. They check only what decides the encoded length and the value this
// package uses; anything finer (e.g. sign padding of unused bits) is left to
// the engine that validates the output, which sees these bytes unchanged.

var (
	errLEBTruncated = errors.New("truncated LEB128 number")
	errLEBTooLong   = errors.New("LEB128 number too long")
	errLEBOverflow  = errors.New("LEB128 number overflows 32 bits")
)

// readU32 decodes an unsigned 32-bit LEB128 number at b[p:].
func readU32(b []byte, p int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if p >= len(b) {
			return 0, p, errLEBTruncated
		}
		c := b[p]
		p++
		if i == 4 && c&0xf0 != 0 {
			// The fifth byte carries bits 28..31: a continuation bit or any
			// higher bit means the value does not fit.
			return 0, p, errLEBOverflow
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, p, nil
		}
	}
	return 0, p, errLEBTooLong
}

// skipLEB skips a LEB128 number of at most maxBytes bytes (5 for 32-bit and
// s33 numbers, 10 for 64-bit ones).
func skipLEB(b []byte, p, maxBytes int) (int, error) {
	for i := 0; i < maxBytes; i++ {
		if p >= len(b) {
			return p, errLEBTruncated
		}
		c := b[p]
		p++
		if c&0x80 == 0 {
			return p, nil
		}
	}
	return p, errLEBTooLong
}

// readS33 decodes the signed 33-bit number a block type uses for a type index.
func readS33(b []byte, p int) (int64, int, error) {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		if p >= len(b) {
			return 0, p, errLEBTruncated
		}
		c := b[p]
		p++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				v |= -1 << shift // sign-extend
			}
			return v, p, nil
		}
	}
	return 0, p, errLEBTooLong
}

// appendU32 appends v as unsigned LEB128.
func appendU32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendS64 appends v as signed LEB128.
func appendS64(dst []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

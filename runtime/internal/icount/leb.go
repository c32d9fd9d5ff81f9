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

// readLEB reads the bits of a LEB128 number of at most maxBytes bytes (5 for
// 32-bit and s33 numbers, 10 for 64-bit ones) and returns them, its last
// byte, how many bytes it took and the position after it.
func readLEB(b []byte, p, maxBytes int) (v uint64, last byte, n, next int, err error) {
	for n < maxBytes {
		if p >= len(b) {
			return 0, 0, n, p, errLEBTruncated
		}
		c := b[p]
		p++
		v |= uint64(c&0x7f) << (7 * n)
		n++
		if c&0x80 == 0 {
			return v, c, n, p, nil
		}
	}
	return 0, 0, n, p, errLEBTooLong
}

// readU32 decodes an unsigned 32-bit LEB128 number at b[p:].
func readU32(b []byte, p int) (uint32, int, error) {
	v, last, n, p, err := readLEB(b, p, 5)
	if err == nil && n == 5 && last&0xf0 != 0 {
		// The fifth byte carries bits 28..31; anything above does not fit.
		err = errLEBOverflow
	}
	return uint32(v), p, err
}

// skipLEB skips a LEB128 number of at most maxBytes bytes.
func skipLEB(b []byte, p, maxBytes int) (int, error) {
	_, _, _, p, err := readLEB(b, p, maxBytes)
	return p, err
}

// readS33 decodes the signed 33-bit number a block type uses for a type index.
func readS33(b []byte, p int) (int64, int, error) {
	v, last, n, p, err := readLEB(b, p, 5)
	if err != nil {
		return 0, p, err
	}
	x := int64(v)
	if last&0x40 != 0 {
		x |= -1 << (7 * n) // sign-extend
	}
	return x, p, nil
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

package icount

import (
	"errors"
	"math"
	"testing"
)

func TestReadU32(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint32
		next int
		err  error
	}{
		{[]byte{0x00}, 0, 1, nil},
		{[]byte{0x7f, 0xff}, 127, 1, nil},
		{[]byte{0x80, 0x01}, 128, 2, nil},
		{[]byte{0x80, 0x80, 0x00}, 0, 3, nil}, // padded zero is valid
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32, 5, nil},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, 5, errLEBOverflow},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, errLEBTooLong},
		{[]byte{0x80}, 0, 1, errLEBTruncated},
		{nil, 0, 0, errLEBTruncated},
	} {
		v, next, err := readU32(tc.in, 0)
		if !errors.Is(err, tc.err) || (err == nil && (v != tc.want || next != tc.next)) {
			t.Errorf("readU32(% x) = %d, %d, %v; want %d, %d, %v", tc.in, v, next, err, tc.want, tc.next, tc.err)
		}
	}
}

func TestReadS33(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want int64
	}{
		{[]byte{0x00}, 0},
		{[]byte{0x3f}, 63},
		{[]byte{0x40}, -64}, // the 0x40 "empty" block type byte, read as a number
		{[]byte{0x7f}, -1},
		{[]byte{0x80, 0x01}, 128},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, -1 << 32},
	} {
		if v, _, err := readS33(tc.in, 0); err != nil || v != tc.want {
			t.Errorf("readS33(% x) = %d, %v; want %d", tc.in, v, err, tc.want)
		}
	}
	if _, _, err := readS33([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0); !errors.Is(err, errLEBTooLong) {
		t.Errorf("6-byte s33: err = %v, want %v", err, errLEBTooLong)
	}
}

func TestAppendRoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 16383, 16384, 1 << 28, math.MaxUint32} {
		got, next, err := readU32(appendU32(nil, v), 0)
		if err != nil || got != v || next != len(appendU32(nil, v)) {
			t.Errorf("u32 %d: read back %d (%v)", v, got, err)
		}
	}
	for _, v := range []int64{0, 1, 63, 64, -64, -65, 1 << 40, math.MaxInt64, math.MinInt64} {
		b := appendS64(nil, v)
		raw, last, n, _, err := readLEB(b, 0, 10)
		x := int64(raw)
		if n < 10 && last&0x40 != 0 {
			x |= -1 << (7 * n)
		}
		if err != nil || x != v || n != len(b) {
			t.Errorf("s64 %d: encoded % x, read back %d (%v)", v, b, x, err)
		}
	}
}

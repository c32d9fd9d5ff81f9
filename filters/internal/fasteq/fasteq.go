// Package fasteq compares short strings without a loop, for the filters'
// per-request path in a wasip1 module.
//
// There, s == t calls the runtime's memeqbody, which compares one byte per
// iteration at about 23 wasm instructions a byte: matching a 12-byte
// :authority against the last one cost ~320 instructions, more than the
// host call that read it. Equal compares strings of 4 to 16 bytes with two
// overlapping word loads each and hands every other length to ==.
package fasteq

import "unsafe"

// Equal reports whether a and b are the same string; it is a == b.
func Equal(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	if !wordLoads || uint(n-4) > 12 { // n < 4 or n > 16
		return a == b
	}
	pa := unsafe.Pointer(unsafe.StringData(a))
	pb := unsafe.Pointer(unsafe.StringData(b))
	// Two loads that together cover [0, n): the first word and the last,
	// overlapping when n is less than twice the word. The strings need not
	// be aligned: wasm and the targets wordLoads names load unaligned words
	// directly, and checkptr checks alignment only for types that hold
	// pointers.
	if n >= 8 {
		return *(*uint64)(pa) == *(*uint64)(pb) &&
			*(*uint64)(unsafe.Add(pa, n-8)) == *(*uint64)(unsafe.Add(pb, n-8))
	}
	return *(*uint32)(pa) == *(*uint32)(pb) &&
		*(*uint32)(unsafe.Add(pa, n-4)) == *(*uint32)(unsafe.Add(pb, n-4))
}

//go:build wasip1

package proxywasm

import "unsafe"

// Output slots of host calls. The guest runs one call at a time, so one set
// serves every call; locals whose address goes to the host would escape to
// the heap, an allocation per host call. retData is a guest address (wasm32
// pointers are 32 bits) rather than an unsafe.Pointer, so setting it needs
// no write barrier and no clearing of the upper half before each call.
var (
	retData uint32
	retSize uint32
	retU32  uint32
	retU64  uint64
)

// addr turns a guest address the host returned into a pointer.
func addr(a uint32) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(nil), a) }

// pinned keeps every buffer handed to the host by proxy_on_memory_allocate
// reachable until the hostcall that asked for it has returned and the glue
// has taken its own reference (a slice over the same array). Go's collector
// never moves objects, so the address the host wrote into stays valid.
var pinned [][]byte

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		size = 1 // a distinct, non-NULL address even for empty data
	}
	b := make([]byte, size)
	pinned = append(pinned, b)
	return unsafe.Pointer(&b[0])
}

// scratch is the buffer lent to hosts that speak nicrt's extension (see
// nicrtScratch); nil under any other host.
var scratch []byte

// nicrtScratch is nicrt's optional ABI extension: the host asks once, at VM
// start, for a buffer it may write returned data into instead of calling
// proxy_on_memory_allocate from inside a host call. Such re-entrant calls
// into a Go module cost more than the host call itself (about 0.3 µs here);
// this makes reading a header cheap.
// Data returned there is copied out (take) before the next host call. Hosts
// that do not know the extension (Envoy) never call it.
//
//go:wasmexport nicrt_scratch_v1
func nicrtScratch(size uint32) unsafe.Pointer {
	if size == 0 || size > 1<<20 {
		return nil
	}
	scratch = make([]byte, size)
	return unsafe.Pointer(&scratch[0])
}

// unpin drops the pins once returned data is referenced by the glue.
func unpin() {
	if len(pinned) == 0 {
		return
	}
	clear(pinned)
	pinned = pinned[:0]
}

// take turns an (address, size) pair the host returned into a slice the
// glue owns. A host that allocated the data with proxy_on_memory_allocate
// has pinned the allocation: the glue keeps it and unpins it. Otherwise the
// data is in the scratch buffer, which the next host call reuses, and is
// copied out. take is on the path of every header read, so it is kept
// small and branch-light: in a wasip1 module every jump inside a function
// costs in proportion to the function's size.
func take(a, n uint32) []byte {
	if b, ok := arenaTake(a, n); ok {
		return b
	}
	return takeSlow(a, n)
}

// arenaTake is take's usual case, small enough for the compiler to inline
// into the hot host calls: a small value in the scratch buffer, nothing
// pinned, room in the arena chunk. It copies the value into the arena, or
// reports false.
func arenaTake(a, n uint32) ([]byte, bool) {
	off := arenaOff
	end := off + int(n)
	// n-1 wraps for n == 0, so one comparison sends both empty and large
	// values to takeSlow.
	if len(pinned) != 0 || n-1 >= arenaMax || end > arenaChunk {
		return nil, false
	}
	arenaOff = end
	b := arenaBuf[off:end:end]
	copy(b, unsafe.String((*byte)(addr(a)), n))
	return b, true
}

// takeSlow is take for everything but a small value in the scratch buffer
// that fits the current arena chunk.
//
//go:noinline
func takeSlow(a, n uint32) []byte {
	var b []byte
	switch {
	case a == 0 || n == 0:
	case len(pinned) == 0 || inScratch(uintptr(a), uintptr(n)):
		// In the scratch buffer (or, from a host that allocated and then
		// used the scratch anyway, there too): copy it out.
		src := unsafe.String((*byte)(addr(a)), n)
		if n > arenaMax {
			b = []byte(src)
		} else {
			arenaBuf, arenaOff = new([arenaChunk]byte), int(n)
			b = arenaBuf[:n:n]
			copy(b, src)
		}
	default:
		b = unsafe.Slice((*byte)(addr(a)), n)
	}
	unpin()
	return b
}

// inScratch reports whether [a, a+n) lies inside the scratch buffer.
func inScratch(a, n uintptr) bool {
	if len(scratch) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(&scratch[0]))
	return a >= base && a+n <= base+uintptr(len(scratch))
}

// arenaBuf is a bump allocator for data copied out of the scratch buffer,
// arenaOff its first free byte. A Go heap allocation costs about 1,750
// wasm instructions in a wasip1 module, more than the host call itself;
// copying a small value into a shared chunk costs a memmove. Each value
// gets a capacity-capped slice of the chunk, so an append by the filter
// reallocates instead of overwriting a neighbour; a chunk lives as long as
// any value carved from it. (A pointer and an offset rather than a slice:
// taking a value then writes an integer, not a pointer that the garbage
// collector's write barrier must see.)
var (
	arenaBuf *[arenaChunk]byte
	arenaOff = arenaChunk // full: the first value allocates a chunk
)

const (
	arenaChunk = 4096
	arenaMax   = 512 // larger values get their own allocation
)

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func stringPtr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// serializeMap encodes pairs as the ABI's header-map format: u32 count,
// (u32 key length, u32 value length) per pair, then each key and value
// followed by a NUL.
func serializeMap(pairs [][2]string) []byte {
	size := 4
	for _, p := range pairs {
		size += 8 + len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, size)
	putU32(b, uint32(len(pairs)))
	off := 4 + 8*len(pairs)
	for i, p := range pairs {
		putU32(b[4+8*i:], uint32(len(p[0])))
		putU32(b[8+8*i:], uint32(len(p[1])))
		off += copy(b[off:], p[0]) + 1
		off += copy(b[off:], p[1]) + 1
	}
	return b
}

// deserializeMap decodes a map the host produced. The host is trusted to
// produce well-formed maps, but a short buffer still yields what is there
// rather than a panic.
func deserializeMap(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	n := int(getU32(b))
	if n <= 0 || 4+8*n > len(b) {
		return nil
	}
	out := make([][2]string, 0, n)
	off := 4 + 8*n
	for i := 0; i < n; i++ {
		kl, vl := int(getU32(b[4+8*i:])), int(getU32(b[8+8*i:]))
		if off+kl+1+vl+1 > len(b) {
			break
		}
		k := unsafe.String(&b[off], kl)
		off += kl + 1
		var v string
		if vl > 0 {
			v = unsafe.String(&b[off], vl)
		}
		off += vl + 1
		out = append(out, [2]string{k, v})
	}
	return out
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func getU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// serializePath joins property path segments with NUL.
func serializePath(path []string) []byte {
	n := 0
	for _, s := range path {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range path {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	return b
}

package live

import (
	"sync"
	"sync/atomic"
)

// chunk is a pooled buffer that bytes in flight through the NIC live in,
// from the read (or the host's write) until the frames that carry them have
// been delivered. Frames alias it, so a chunk is reference counted and
// returns to the pool when the last frame and its filler let go.
type chunk struct {
	b    []byte
	used int // filled so far (only the filler touches it)
	refs atomic.Int32
}

// chunkSize is what one read fills at most: 64 KiB, the largest a loopback
// read returns in practice, so a read costs one chunk at most.
const chunkSize = 64 << 10

// chunkMin is the least room worth reading into; a filler takes a fresh
// chunk below it.
const chunkMin = 4 << 10

var chunks = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

func newChunk() *chunk {
	c := chunks.Get().(*chunk)
	c.used = 0
	c.refs.Store(1) // the filler's reference
	return c
}

func (c *chunk) ref() { c.refs.Add(1) }

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		chunks.Put(c)
	}
}

// filler is one writer's current chunk: the socket reader of a half, or the
// host's writes into a host connection.
type filler struct{ c *chunk }

// room returns a chunk with at least chunkMin free bytes (or room for n
// bytes, up to a whole chunk), replacing the current one if needed.
func (f *filler) room(n int) *chunk {
	need := min(max(n, chunkMin), chunkSize)
	if f.c == nil || len(f.c.b)-f.c.used < need {
		if f.c != nil {
			f.c.release()
		}
		f.c = newChunk()
	}
	return f.c
}

// free drops the filler's reference.
func (f *filler) free() {
	if f.c != nil {
		f.c.release()
		f.c = nil
	}
}

// Package reuse recycles per-stream filter contexts.
//
// A filter allocates one HTTP context per request; in a wasip1 build each
// such allocation costs over a thousand wasm instructions and feeds the
// guest's garbage collector. Proxy-Wasm guarantees that after
// proxy_on_log (the SDK's OnHttpStreamDone) the host calls nothing for that
// context but proxy_on_delete, so a filter can hand the context back there
// and give it to the next stream.
package reuse

// maxFree bounds the free list, so a burst of concurrent streams does not
// pin its peak memory forever.
const maxFree = 4096

// Pool is a free list of *T. Not safe for concurrent use; a proxy-wasm VM
// runs one callback at a time.
type Pool[T any] struct{ free []*T }

// Get returns a zeroed *T, recycled when one is available.
func (p *Pool[T]) Get() *T {
	if n := len(p.free); n > 0 {
		x := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return x
	}
	return new(T)
}

// Put zeroes x and keeps it for a later Get. x must not be used afterwards.
func (p *Pool[T]) Put(x *T) {
	var zero T
	*x = zero
	if len(p.free) < maxFree {
		p.free = append(p.free, x)
	}
}

// Len is the number of contexts waiting for reuse.
func (p *Pool[T]) Len() int { return len(p.free) }

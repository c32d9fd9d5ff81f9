package runtime

import (
	"sync"
	"sync/atomic"
)

// DefaultRouteHeader is the request header through which filters name the
// cluster a request goes to, like an Envoy route with cluster_header.
const DefaultRouteHeader = "x-nicrt-cluster"

// Chain is an immutable, ordered list of plugins that every request of a
// data plane passes through: request callbacks in order, response callbacks
// in reverse order, as Envoy runs its decoder and encoder filters.
type Chain struct {
	plugins []*Plugin
}

// NewChain returns a chain of the given plugins, in order.
func NewChain(plugins ...*Plugin) *Chain {
	return &Chain{plugins: append([]*Plugin(nil), plugins...)}
}

// Plugins returns the chain's plugins in request order. The slice must not
// be modified.
func (c *Chain) Plugins() []*Plugin {
	if c == nil {
		return nil
	}
	return c.plugins
}

// Find returns the plugin named name, or nil.
func (c *Chain) Find(name string) *Plugin {
	for _, p := range c.Plugins() {
		if p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// With returns a chain in which p replaces the plugin of the same name, or is
// appended when there is none.
func (c *Chain) With(p *Plugin) *Chain {
	out := make([]*Plugin, 0, len(c.Plugins())+1)
	replaced := false
	for _, q := range c.Plugins() {
		if q.cfg.Name == p.cfg.Name {
			out = append(out, p)
			replaced = true
		} else {
			out = append(out, q)
		}
	}
	if !replaced {
		out = append(out, p)
	}
	return &Chain{plugins: out}
}

// Without returns a chain lacking the plugin named name.
func (c *Chain) Without(name string) *Chain {
	out := make([]*Plugin, 0, len(c.Plugins()))
	for _, q := range c.Plugins() {
		if q.cfg.Name != name {
			out = append(out, q)
		}
	}
	return &Chain{plugins: out}
}

// Slot holds a data plane's current chain and swaps it atomically. Streams
// started before a swap finish on the plugins they started with; a plugin
// the swap removed closes once its last such stream ends.
type Slot struct {
	cur atomic.Pointer[Chain]
	mu  sync.Mutex // serializes swaps
}

// NewSlot returns a slot holding c (which may be nil for no filters).
func NewSlot(c *Chain) *Slot {
	if c == nil {
		c = &Chain{}
	}
	s := &Slot{}
	s.cur.Store(c)
	return s
}

// Chain returns the current chain.
func (s *Slot) Chain() *Chain { return s.cur.Load() }

// Swap installs c and retires the plugins of the old chain that c does not
// contain. It returns the old chain.
func (s *Slot) Swap(c *Chain) *Chain {
	if c == nil {
		c = &Chain{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swapLocked(c)
}

func (s *Slot) swapLocked(c *Chain) *Chain {
	old := s.cur.Swap(c)
	for _, p := range old.Plugins() {
		if c.Find(p.cfg.Name) != p {
			p.Close()
		}
	}
	return old
}

// Install puts p into the chain, replacing the plugin of the same name,
// which it returns (nil when p was appended).
func (s *Slot) Install(p *Plugin) (replaced *Plugin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	replaced = old.Find(p.cfg.Name)
	s.swapLocked(old.With(p))
	return replaced
}

// Remove takes the plugin named name out of the chain and reports whether it
// was there.
func (s *Slot) Remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if old.Find(name) == nil {
		return false
	}
	s.swapLocked(old.Without(name))
	return true
}

// Close retires every plugin of the current chain.
func (s *Slot) Close() { s.Swap(&Chain{}) }

// NewStream starts a stream on the current chain. It never fails: a plugin
// that cannot serve the stream is handled by its fail-open/closed policy at
// the first callback.
func (s *Slot) NewStream(info StreamInfo) *Stream {
	for {
		c := s.cur.Load()
		if st, ok := c.newStream(info); ok {
			return st
		}
		// A swap retired and drained a plugin between our load and
		// acquire; the slot now holds a newer chain.
	}
}

// NewStream starts a stream on this chain. It returns nil when a plugin of
// the chain has already been closed; data planes that swap chains should use
// Slot.NewStream.
func (c *Chain) NewStream(info StreamInfo) *Stream {
	st, _ := c.newStream(info)
	return st
}

func (c *Chain) newStream(info StreamInfo) (*Stream, bool) {
	ps := c.Plugins()
	for i, p := range ps {
		if !p.acquire() {
			for _, q := range ps[:i] {
				q.release()
			}
			return nil, false
		}
	}
	return newStream(c, info), true
}

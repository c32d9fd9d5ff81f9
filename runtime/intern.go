package runtime

// internCache remembers the last few short strings a VM's guest wrote into
// header maps, so writing the same name or value again (a routing header and
// its handful of cluster names, on every request) reuses the string instead
// of allocating a copy of guest memory. Strings are immutable, so sharing
// one between requests changes nothing a reader can see. A VM uses its
// cache only under its lock.
type internCache struct {
	s    [internSlots]string
	next int // slot the next miss overwrites
}

// internSlots is how many strings a cache holds; a hit costs at most this
// many length comparisons.
const internSlots = 8

// internMax is the longest string a cache keeps: longer ones are rarely
// repeated, and would hold memory for no gain.
const internMax = 64

// value returns b as a string.
func (c *internCache) value(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMax {
		return string(b)
	}
	for i := range c.s {
		if c.s[i] == string(b) { // compiled without converting b
			return c.s[i]
		}
	}
	s := string(b)
	c.s[c.next] = s
	c.next = (c.next + 1) % internSlots
	return s
}

// name returns b lowercased as a string: a header name as the host holds it.
func (c *internCache) name(b []byte) string {
	for _, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			return lowerBytes(b)
		}
	}
	return c.value(b)
}

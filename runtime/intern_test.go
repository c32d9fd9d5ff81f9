package runtime

import (
	"strings"
	"testing"
)

// TestInternCache: names come back lowercased, values unchanged; a repeated
// short name or value costs no allocation; long ones are not kept.
func TestInternCache(t *testing.T) {
	var c internCache
	for _, tc := range []struct{ in, name, value string }{
		{"x-nicrt-cluster", "x-nicrt-cluster", "x-nicrt-cluster"},
		{"X-Upper", "x-upper", "X-Upper"},
		{"", "", ""},
		{strings.Repeat("V", internMax+1), strings.Repeat("v", internMax+1), strings.Repeat("V", internMax+1)},
	} {
		if got := c.name([]byte(tc.in)); got != tc.name {
			t.Errorf("name(%q) = %q, want %q", tc.in, got, tc.name)
		}
		if got := c.value([]byte(tc.in)); got != tc.value {
			t.Errorf("value(%q) = %q, want %q", tc.in, got, tc.value)
		}
	}
	// More distinct strings than slots: each still comes back right.
	for i := 0; i < 3*internSlots; i++ {
		v := []byte("reviews-v" + strings.Repeat("1", i%(internSlots+3)+1))
		if got := c.value(v); got != string(v) {
			t.Fatalf("value(%q) = %q", v, got)
		}
	}
	name, val := []byte("x-route"), []byte("reviews-v2")
	c.name(name)
	c.value(val)
	if n := testing.AllocsPerRun(100, func() { c.name(name); c.value(val) }); n != 0 {
		t.Errorf("repeated name and value: %v allocations, want 0", n)
	}
	long := []byte(strings.Repeat("l", internMax+1))
	c.value(long)
	for i := range c.s {
		if len(c.s[i]) > internMax {
			t.Errorf("slot %d keeps a %d-byte string", i, len(c.s[i]))
		}
	}
}

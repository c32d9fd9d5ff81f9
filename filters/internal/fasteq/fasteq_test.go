package fasteq

import (
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	long := strings.Repeat("x", 40)
	cases := []struct{ a, b string }{
		{"", ""}, {"", "a"}, {"a", "a"}, {"a", "b"}, {"abc", "abc"}, {"abc", "abd"},
		{"abcd", "abcd"}, {"abcd", "abce"}, {"xbcd", "abcd"},
		{"jason", "jason"}, {"jason", "jasoN"}, {"jason", "Jason"}, {"jason", "jaXon"},
		{"abcdefg", "abcdefg"}, {"abcdefg", "abcdefh"},
		{"abcdefgh", "abcdefgh"}, {"abcdefgh", "abcdefgX"}, {"Xbcdefgh", "abcdefgh"},
		{"reviews:9080", "reviews:9080"}, {"reviews:9080", "reviews:9081"}, {"reviews:9080", "reviewX:9080"},
		{"reviews:9080", "Reviews:9080"}, {"reviews:9080", "reviews"},
		{"0123456789abcdef", "0123456789abcdef"}, {"0123456789abcdef", "0123456789abcdeF"}, {"0123456789abcdef", "0123456X89abcdef"},
		{"0123456789abcdefg", "0123456789abcdefg"}, {"0123456789abcdefg", "0123456789abcdefG"},
		{long, long}, {long, long[:39] + "y"},
	}
	for _, c := range cases {
		if got, want := Equal(c.a, c.b), c.a == c.b; got != want {
			t.Errorf("Equal(%q, %q) = %v, want %v", c.a, c.b, got, want)
		}
		if got, want := Equal(c.b, c.a), c.a == c.b; got != want {
			t.Errorf("Equal(%q, %q) = %v, want %v", c.b, c.a, got, want)
		}
	}
}

// TestEqualEveryPosition changes each byte of strings of every length the
// word path handles and checks that Equal sees it.
func TestEqualEveryPosition(t *testing.T) {
	for n := 0; n <= 20; n++ {
		a := strings.Repeat("q", n)
		if !Equal(a, strings.Clone(a)) {
			t.Errorf("length %d: equal strings compared unequal", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] ^= 0x80
			if Equal(a, string(b)) {
				t.Errorf("length %d: a difference at byte %d went unseen", n, i)
			}
		}
	}
}

func FuzzEqual(f *testing.F) {
	f.Add("reviews:9080", "reviews:9080")
	f.Add("jason", "jasom")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := Equal(a, b), a == b; got != want {
			t.Fatalf("Equal(%q, %q) = %v, want %v", a, b, got, want)
		}
		// Substrings: the word loads must stay inside each string.
		if len(a) > 2 && len(b) > 2 {
			if got, want := Equal(a[1:len(a)-1], b[1:len(b)-1]), a[1:len(a)-1] == b[1:len(b)-1]; got != want {
				t.Fatalf("Equal on substrings of %q, %q = %v, want %v", a, b, got, want)
			}
		}
	})
}

package promname

import "testing"

func TestName(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{nil, "m"},
		{[]string{"cluster", "reviews-v1"}, `m{cluster="reviews-v1"}`},
		{[]string{"a", "1", "b", "2"}, `m{a="1",b="2"}`},
		{[]string{"a", `q"u\o` + "\n"}, `m{a="q\"u\\o\n"}`},
	} {
		if got := Name("m", tc.kv...); got != tc.want {
			t.Errorf("Name(m, %q) = %s, want %s", tc.kv, got, tc.want)
		}
	}
}

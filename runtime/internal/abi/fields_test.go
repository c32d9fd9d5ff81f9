package abi

import (
	"bytes"
	"strings"
	"testing"
)

func encode(pairs [][2]string) []byte {
	kv := 0
	for _, p := range pairs {
		kv += len(p[0]) + len(p[1])
	}
	b := make([]byte, EncodedSize(len(pairs), kv))
	w := NewMapWriter(b, len(pairs))
	for _, p := range pairs {
		w.Add(p[0], p[1])
	}
	return b
}

func decode(t testing.TB, b []byte) ([][2]string, error) {
	var out [][2]string
	err := DecodeMap(b, func(p Pair) { out = append(out, [2]string{string(p.Key), string(p.Value)}) })
	return out, err
}

// The specification's own example: {{"a": "1"}, {"b": "22"}}.
func TestSpecExample(t *testing.T) {
	want := []byte{
		2, 0, 0, 0,
		1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
		'a', 0, '1', 0, 'b', 0, '2', '2', 0,
	}
	got := encode([][2]string{{"a", "1"}, {"b", "22"}})
	if !bytes.Equal(got, want) {
		t.Fatalf("encode = %v, want %v", got, want)
	}
	pairs, err := decode(t, want)
	if err != nil || len(pairs) != 2 || pairs[1] != [2]string{"b", "22"} {
		t.Fatalf("decode = %v, %v", pairs, err)
	}
}

func TestRoundTrip(t *testing.T) {
	cases := [][][2]string{
		nil,
		{{":method", "GET"}, {":path", "/"}, {":authority", "reviews:9080"}},
		{{"empty", ""}, {"", "empty-key"}, {"dup", "1"}, {"dup", "2"}},
		{{"bin", "a\x01\xff"}},
	}
	for _, c := range cases {
		got, err := decode(t, encode(c))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if len(got) != len(c) {
			t.Fatalf("%v: got %v", c, got)
		}
		for i := range c {
			if got[i] != c[i] {
				t.Fatalf("pair %d: got %q want %q", i, got[i], c[i])
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"short count", []byte{1, 0}, "need at least 4"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff}, "more than the limit"},
		{"missing headers", []byte{1, 0, 0, 0, 1, 0}, "header bytes"},
		{"key past end", []byte{1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 0}, "key 0"},
		{"no nul after key", []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'a', 'x', 0}, "not NUL-terminated"},
		{"value past end", []byte{1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 'a', 0, 'b', 0}, "value 0"},
		{"trailing", append(encode([][2]string{{"a", "b"}}), 7), "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode(t, c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	for _, empty := range [][]byte{nil, {0}} {
		if got, err := decode(t, empty); err != nil || len(got) != 0 {
			t.Fatalf("empty encoding %v: %v %v", empty, got, err)
		}
	}
}

func TestSplitPath(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"request\x00path", []string{"request", "path"}},
		{"request\x00path\x00", []string{"request", "path"}},
		{"plugin_name", []string{"plugin_name"}},
		{"a\x00\x00b", []string{"a", "", "b"}},
	}
	for _, c := range cases {
		var got []string
		n := SplitPath([]byte(c.in), func(i int, s []byte) { got = append(got, string(s)) })
		if n != len(c.want) || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("SplitPath(%q) = %q (%d), want %q", c.in, got, n, c.want)
		}
	}
}

// FuzzDecodeMap: any bytes a guest hands the host decode or fail cleanly, and
// whatever decodes re-encodes to the same bytes.
func FuzzDecodeMap(f *testing.F) {
	f.Add(encode([][2]string{{"a", "1"}, {"b", "22"}}))
	f.Add(encode(nil))
	f.Add([]byte{0})
	f.Add([]byte{3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := decode(t, b)
		if err != nil {
			return
		}
		if len(b) <= 1 {
			return // the empty encodings are not canonical
		}
		if re := encode(pairs); !bytes.Equal(re, b) {
			t.Fatalf("re-encode mismatch:\n in %v\nout %v", b, re)
		}
	})
}

package config

import (
	"errors"
	"strings"
	"testing"
)

func TestReadFields(t *testing.T) {
	doc := Parse([]byte(`{"s": "x", "b": true, "i": 7, "f": 2.5, "big": 1e2, "n": null, "o": {"k": 1}, "a": [1, "two"]}`))
	o := doc.Root().Object()
	if got := o.String("s", ""); got != "x" {
		t.Errorf("s = %q", got)
	}
	if !o.Bool("b", false) {
		t.Error("b not true")
	}
	if got := o.Int("i", 0, 0, 10); got != 7 {
		t.Errorf("i = %d", got)
	}
	if got := o.Float("f", 0, 0, 10); got != 2.5 {
		t.Errorf("f = %g", got)
	}
	if got := o.Int("big", 0, 0, 1000); got != 100 {
		t.Errorf("big = %d", got)
	}
	if got := o.String("n", "default"); got != "default" {
		t.Errorf("null field = %q, want the default", got)
	}
	if got := o.String("absent", "default"); got != "default" {
		t.Errorf("absent field = %q", got)
	}
	ov, _ := o.Get("o")
	inner := ov.Object()
	if inner.Int("k", 0, 0, 5) != 1 {
		t.Error("o.k")
	}
	inner.Done()
	av, _ := o.Get("a")
	elems := av.Array()
	if len(elems) != 2 || elems[1].Path() != "a[1]" || elems[1].String() != "two" {
		t.Errorf("array elements %v", elems)
	}
	o.Done()
	if err := doc.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		read func(o *Object)
		want string
	}{
		{`{"a": 1}`, func(o *Object) { o.String("a", "") }, "a: must be a string, not number"},
		{`{"a": "1"}`, func(o *Object) { o.Int("a", 0, 0, 9) }, "a: must be an integer, not string"},
		{`{"a": 1.5}`, func(o *Object) { o.Int("a", 0, 0, 9) }, "a: must be an integer, not 1.5"},
		{`{"a": 10}`, func(o *Object) { o.Int("a", 0, 0, 9) }, "a: 10 is out of range [0, 9]"},
		{`{"a": 1e300}`, func(o *Object) { o.Int("a", 0, 0, 9) }, "a: 1e300 is out of range"},
		{`{"a": -0.5}`, func(o *Object) { o.Float("a", 0, 0, 1) }, "a: -0.5 is out of range"},
		{`{"a": "yes"}`, func(o *Object) { o.Bool("a", false) }, "a: must be true or false, not string"},
		{`{"a": {"b": [1, {"c": 2}]}}`, func(o *Object) {
			v, _ := o.Get("a")
			b, _ := v.Object().Get("b")
			b.Array()[1].Object().String("c", "")
		}, "a.b[1].c: must be a string"},
		{`{"a": 1, "a": 2}`, func(o *Object) {}, "a: field appears more than once"},
		{`{"x": 1}`, func(o *Object) { o.Done() }, "x: unknown field"},
		{`{"fixed_delay": "1s"}`, func(o *Object) { o.Get("fixedDelay"); o.Done() }, `fixed_delay: unknown field (did you mean "fixedDelay"?)`},
		{`{"clusterHeader": "x"}`, func(o *Object) { o.Get("cluster_header"); o.Done() }, `clusterHeader: unknown field (did you mean "cluster_header"?)`},
		{`{"typo": 1}`, func(o *Object) { o.Required("name", ""); o.Done() }, "typo: unknown field"},
		{`{}`, func(o *Object) { o.Required("name", ""); o.Done() }, "name: required"},
		{`{"r": 1}`, func(o *Object) { o.Unsupported("r", "because") }, "r: not supported: because"},
		{`[1]`, func(o *Object) {}, "configuration: must be an object, not array"},
		{`{"a": `, nil, "configuration: invalid JSON"},
		{`{"a": 1} {"b": 2}`, nil, "unexpected data after the JSON value at byte offset"},
		{`{"a" 1}`, nil, "invalid JSON at byte offset 5"},
	} {
		doc := Parse([]byte(tc.doc))
		if tc.read != nil {
			tc.read(doc.Root().Object())
		}
		err := doc.Err()
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.doc, err, tc.want)
		}
	}
}

func TestFirstErrorWins(t *testing.T) {
	doc := Parse([]byte(`{"a": 1, "b": 2}`))
	o := doc.Root().Object()
	o.String("a", "")
	o.String("b", "")
	if err := doc.Err(); err == nil || !strings.HasPrefix(err.Error(), "a:") {
		t.Errorf("error %v, want the one about a", err)
	}
}

func TestEmptyDocumentIsNull(t *testing.T) {
	for _, s := range []string{"", "  \n", "null"} {
		doc := Parse([]byte(s))
		if !doc.Root().IsNull() || doc.Err() != nil {
			t.Errorf("%q: null %v, err %v", s, doc.Root().IsNull(), doc.Err())
		}
	}
}

// FuzzParse: no input makes the reader panic, and walking an accepted
// document's objects and arrays terminates.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a": [1, {"b": null}]}`, `{"a":1,"a":1}`, `"x"`, `1e999`, `[`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc := Parse(data)
		walk(doc.Root(), 0)
		_ = doc.Err()
	})
}

func walk(v Value, depth int) {
	if depth > 50 {
		return
	}
	switch v.Kind() {
	case "object":
		o := v.Object()
		for _, k := range o.Keys() {
			c, _ := o.Get(k)
			walk(c, depth+1)
		}
		o.Done()
	case "array":
		for _, e := range v.Array() {
			walk(e, depth+1)
		}
	case "string":
		_ = v.String()
	case "number":
		v.Float(-1e308, 1e308)
		v.Int(-1<<62, 1<<62)
	case "bool":
		v.Bool()
	}
}

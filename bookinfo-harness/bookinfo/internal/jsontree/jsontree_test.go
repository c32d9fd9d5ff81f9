package jsontree

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseAndNavigate(t *testing.T) {
	var tr Tree
	src := `{"id": "0", "reviews": [{"reviewer":"Reviewer1","rating":{"stars":5,"color":"red"}}, {"reviewer":"R\u00e92"}], "n": -1.5e3, "t": true, "f": false, "z": null}`
	if err := tr.Parse(src); err != nil {
		t.Fatal(err)
	}
	root := tr.Root()
	if root.Kind() != Object || root.Len() != 6 {
		t.Fatalf("root kind %v len %d", root.Kind(), root.Len())
	}
	if got := root.Get("id"); got.Kind() != String || got.Text() != "0" {
		t.Errorf("id = %v %q", got.Kind(), got.Text())
	}
	revs := root.Get("reviews")
	first := revs.First()
	if got := first.Get("rating").Get("stars"); got.Kind() != Number || got.Text() != "5" {
		t.Errorf("stars = %v %q", got.Kind(), got.Text())
	}
	if got := first.Next().Get("reviewer").Text(); got != "Ré2" {
		t.Errorf("escaped reviewer = %q", got)
	}
	if first.Next().Next().Exists() {
		t.Error("third review exists")
	}
	if got := root.Get("n").Text(); got != "-1.5e3" {
		t.Errorf("number literal = %q", got)
	}
	for key, want := range map[string]Kind{"t": True, "f": False, "z": Null, "nope": Missing} {
		if got := root.Get(key).Kind(); got != want {
			t.Errorf("%s: kind %v, want %v", key, got, want)
		}
	}
	if root.Get("id").Get("x").Exists() || (Value{}).First().Exists() || (Value{}).Next().Exists() {
		t.Error("navigation from a scalar or Missing found something")
	}
}

func TestParseErrorsNameTheOffset(t *testing.T) {
	cases := []struct {
		src    string
		offset int
		msg    string
	}{
		{``, 0, "end of input"},
		{`{"a" 1}`, 5, "expected ':'"},
		{`[1,]`, 3, "expected a value"},
		{`{"a":1,}`, 7, "member name"},
		{`01`, 1, "after the top-level value"},
		{`"abc`, 4, "end of input inside a string"},
		{"\"a\x01\"", 2, "control character"},
		{`"\x"`, 1, "invalid escape"},
		{`"\u12"`, 3, `\u escape`},
		{`-`, 1, "expected a digit"},
		{`1.`, 2, "decimal point"},
		{`1e+`, 3, "exponent"},
		{`tru`, 0, "expected a value"},
		{`[1 2]`, 3, "expected ',' or ']'"},
		{strings.Repeat("[", MaxDepth+1), MaxDepth, "nesting"},
	}
	for _, c := range cases {
		var tr Tree
		err := tr.Parse(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", c.src, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Error(), c.msg) {
			t.Errorf("Parse(%q) = %q at %d, want offset %d mentioning %q", c.src, se.Error(), se.Offset, c.offset, c.msg)
		}
		if tr.Root().Exists() {
			t.Errorf("Parse(%q) failed but left a root", c.src)
		}
	}
}

// TestDialects checks both printers on the same kinds of input. Expected
// bytes come from CPython 3's json.dumps(json.loads(src)) and Node's
// JSON.stringify(JSON.parse(src)).
func TestDialects(t *testing.T) {
	cases := []struct {
		name      string
		print     func([]byte, Value) []byte
		src, want string
	}{
		{"python", AppendPython, `{"id":0,"author":"William Shakespeare","ISBN-10":"1234567890"}`, `{"id": 0, "author": "William Shakespeare", "ISBN-10": "1234567890"}`},
		{"python", AppendPython, `[1.5, 100.0, 1e16, 1e-5, 0.0001, 1e15, 123456789012345678.0, -0.0, 5e-324, 1.7976931348623157e308]`,
			`[1.5, 100.0, 1e+16, 1e-05, 0.0001, 1000000000000000.0, 1.2345678901234568e+17, -0.0, 5e-324, 1.7976931348623157e+308]`},
		{"python", AppendPython, `[-0, 123456789012345678901234567890, 1e400, -1E400]`, `[0, 123456789012345678901234567890, Infinity, -Infinity]`},
		{"python", AppendPython, `{"a":"é\u007f\u0001😀/\"\\\n\t"}`, `{"a": "\u00e9\u007f\u0001\ud83d\ude00/\"\\\n\t"}`},
		{"python", AppendPython, `[true,false,null,[],{}]`, `[true, false, null, [], {}]`},
		{"js", AppendJS, `{ "Reviewer1" : 5, "Reviewer2": 4 }`, `{"Reviewer1":5,"Reviewer2":4}`},
		{"js", AppendJS, `[1.5,100.0,1e21,1e20,123456789012345678,1e-7,1e-6,0.000001234,-0,5e-324,1.7976931348623157e308,1e400]`,
			`[1.5,100,1e+21,100000000000000000000,123456789012345680,1e-7,0.000001,0.000001234,0,5e-324,1.7976931348623157e+308,null]`},
		{"js", AppendJS, `{"a":"é\u007f\u0001😀\/\u2028"}`, "{\"a\":\"é\x7f\\u0001😀/\u2028\"}"},
	}
	for _, c := range cases {
		var tr Tree
		if err := tr.Parse(c.src); err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := string(c.print(nil, tr.Root())); got != c.want {
			t.Errorf("%s printer of %s\n got %s\nwant %s", c.name, c.src, got, c.want)
		}
	}
}

func TestAppendJSNumberEdges(t *testing.T) {
	cases := map[float64]string{
		math.Inf(1): "null", math.NaN(): "null", math.Copysign(0, -1): "0",
		1152921504606846976: "1152921504606847000", -16: "-16", 0.5: "0.5",
	}
	for f, want := range cases {
		if got := string(AppendJSNumber(nil, f)); got != want {
			t.Errorf("AppendJSNumber(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzParse checks the parser against encoding/json: both accept the same
// documents, and what Parse accepts re-prints (in both dialects) as JSON that
// encoding/json decodes to the same value as the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}`, `[1,2.5e-3,"x\u00e9\ud83d\ude00",true,false,null]`,
		`"\ud800"`, `{"a":{"b":[{}]}}`, ` 0 `, `-0.0e+1`, "\"\xff\"", `{"a":1,"a":2}`, `[`, `{"a"`, `1e999`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var tr Tree
		err := tr.Parse(src)
		valid := json.Valid([]byte(src))
		deep := strings.Count(src, "[")+strings.Count(src, "{") > MaxDepth
		if (err == nil) != valid && !(deep && valid) {
			t.Fatalf("Parse error %v but json.Valid %v for %q", err, valid, src)
		}
		if err != nil {
			return
		}
		var want any
		dec := json.NewDecoder(strings.NewReader(src))
		dec.UseNumber()
		if dec.Decode(&want) != nil {
			return // numbers out of float range etc.
		}
		for name, out := range map[string][]byte{"python": AppendPython(nil, tr.Root()), "js": AppendJS(nil, tr.Root())} {
			if bytes.Contains(out, []byte("Infinity")) || bytes.Contains(out, []byte("NaN")) || bytes.Contains(out, []byte("null")) && !strings.Contains(src, "null") {
				continue // overflowing numbers print as the dialect's non-JSON literal
			}
			var got any
			d2 := json.NewDecoder(bytes.NewReader(out))
			d2.UseNumber()
			if err := d2.Decode(&got); err != nil {
				t.Fatalf("%s output %q of %q is not JSON: %v", name, out, src, err)
			}
			if !sameJSON(want, got) {
				t.Fatalf("%s output %q differs from input %q", name, out, src)
			}
		}
	})
}

// sameJSON compares decoded documents, numbers by float value.
func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !sameJSON(x[k], y[k]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func BenchmarkParseReviews(b *testing.B) {
	src := `{"id": "0","podname": "reviews-v3","clustername": "null","reviews": [{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!", "rating": {"stars": 5, "color": "red"}},{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.", "rating": {"stars": 4, "color": "red"}}]}`
	var tr Tree
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if err := tr.Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestIndentJSON(t *testing.T) {
	in := `{"a":1,"hist":{"us":[1,2,3],"count":[4,5,6]},"s":"x,{[\"]}","runs":[{"b":[]},{"c":{}}],"e":[],"strs":["p,q","r"]}`
	want := `{
 "a": 1,
 "hist": {
  "us": [1,2,3],
  "count": [4,5,6]
 },
 "s": "x,{[\"]}",
 "runs": [
  {
   "b": []
  },
  {
   "c": {}
  }
 ],
 "e": [],
 "strs": ["p,q","r"]
}
`
	got := indentJSON([]byte(in))
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	var a, b any
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Error("the layout changed the value")
	}
}

func FuzzIndentJSON(f *testing.F) {
	f.Add([]byte(`{"a":[1,2],"b":[{"c":"d"}],"e":"\"]"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		compact, _ := json.Marshal(v)
		var back any
		if err := json.Unmarshal(indentJSON(compact), &back); err != nil {
			t.Fatalf("%s → %s: %v", compact, indentJSON(compact), err)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(compact, b2) {
			t.Fatalf("value changed: %s vs %s", compact, b2)
		}
	})
}

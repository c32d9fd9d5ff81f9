package latency

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func hist(us ...uint32) Histogram {
	r := &Recorder{}
	for _, v := range us {
		r.Record(time.Duration(v) * time.Microsecond)
	}
	return Merge(r)
}

func TestPercentile(t *testing.T) {
	ten := hist(10, 1, 9, 2, 8, 3, 7, 4, 6, 5) // 1..10 µs in any order
	for _, tc := range []struct {
		name string
		h    Histogram
		p    float64
		want time.Duration
	}{
		{"empty", Histogram{}, 90, 0},
		{"p0 is min", ten, 0, 1 * time.Microsecond},
		{"p10", ten, 10, 1 * time.Microsecond},
		{"p10.1 rounds the rank up", ten, 10.1, 2 * time.Microsecond},
		{"p50", ten, 50, 5 * time.Microsecond},
		{"p90", ten, 90, 9 * time.Microsecond},
		{"p99", ten, 99, 10 * time.Microsecond},
		{"p100", ten, 100, 10 * time.Microsecond},
		{"beyond 100", ten, 150, 10 * time.Microsecond},
		{"repeated values", hist(5, 5, 5, 5, 5, 5, 5, 5, 5, 100), 90, 5 * time.Microsecond},
		{"one sample", hist(16510), 90, 16510 * time.Microsecond},
	} {
		if got := tc.h.Percentile(tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	h := hist(3, 1, 2, 2)
	if h.Count() != 4 || h.Min() != time.Microsecond || h.Max() != 3*time.Microsecond || h.Mean() != 2*time.Microsecond {
		t.Errorf("count %d min %v max %v mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
	want := []Bucket{{1, 1}, {2, 2}, {3, 1}}
	if !reflect.DeepEqual(h.Buckets, want) {
		t.Errorf("buckets %v, want %v", h.Buckets, want)
	}
	var empty Histogram
	if empty.Count() != 0 || empty.Min() != 0 || empty.Max() != 0 || empty.Mean() != 0 {
		t.Error("empty histogram is not all zeros")
	}
}

func TestRounding(t *testing.T) {
	r := &Recorder{}
	for _, s := range []float64{-1, math.NaN(), 0.0000004, 0.0000006, 0.016510, 1e9} {
		r.RecordSeconds(s)
	}
	got := Merge(r).Buckets
	want := []Bucket{{0, 3}, {1, 1}, {16510, 1}, {math.MaxUint32, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if r.Len() != 6 {
		t.Errorf("Len %d", r.Len())
	}
	r.Reset()
	if r.Len() != 0 {
		t.Error("Reset kept samples")
	}
}

func TestMergeAndAdd(t *testing.T) {
	a, b := &Recorder{}, &Recorder{}
	for _, v := range []uint32{5, 1, 3} {
		a.Record(time.Duration(v) * time.Microsecond)
	}
	for _, v := range []uint32{3, 7} {
		b.Record(time.Duration(v) * time.Microsecond)
	}
	both := Merge(a, b)
	sum := Merge(a).Add(Merge(b))
	if !reflect.DeepEqual(both, sum) {
		t.Errorf("Merge(a,b)=%v but Merge(a).Add(Merge(b))=%v", both, sum)
	}
	if both.Count() != 5 || both.Percentile(50) != 3*time.Microsecond {
		t.Errorf("merged %v", both)
	}
	if got := (Histogram{}).Add(Histogram{}); len(got.Buckets) != 0 {
		t.Errorf("empty+empty = %v", got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	h := hist(1, 1, 20, 300, 300, 300)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"us":[1,20,300],"count":[2,1,3]}` {
		t.Errorf("JSON %s", b)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Errorf("round trip %v, want %v", back, h)
	}
}

func TestJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"us":[1,2],"count":[1]}`, "histogram: 2 latencies (us) but 1 counts"},
		{`{"us":[2,2],"count":[1,1]}`, "histogram: us[1]=2 does not increase on us[0]=2"},
		{`{"us":[1],"count":[0]}`, "histogram: count[0] is 0"},
		{`{"us":[-1],"count":[1]}`, "json: cannot unmarshal number -1 into Go struct field histogramJSON.us of type uint32"},
	} {
		var h Histogram
		err := json.Unmarshal([]byte(tc.in), &h)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzHistogramJSON(f *testing.F) {
	f.Add([]byte(`{"us":[1,20,300],"count":[2,1,3]}`))
	f.Add([]byte(`{"us":[],"count":[]}`))
	f.Add([]byte(`{"us":[5,4],"count":[1,1]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Histogram
		if err := json.Unmarshal(data, &h); err != nil {
			return
		}
		// Whatever was accepted is a valid histogram and survives a round trip.
		for i := 1; i < len(h.Buckets); i++ {
			if h.Buckets[i].Micros <= h.Buckets[i-1].Micros || h.Buckets[i].Count == 0 {
				t.Fatalf("accepted an invalid histogram %v", h.Buckets)
			}
		}
		_ = h.Percentile(90)
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back Histogram
		if err := json.Unmarshal(b, &back); err != nil || len(back.Buckets) != len(h.Buckets) {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}

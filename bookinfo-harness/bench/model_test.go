package bench

import (
	"math"
	"testing"
)

func TestModeledPerPage(t *testing.T) {
	for _, tc := range []struct {
		name string
		nics []NICReport
		want float64
		ok   bool
	}{
		{"no NICs", nil, 0, false},
		{"no productpage NIC", []NICReport{{Host: "details", ModeledUS: 10, RequestsIn: 5}}, 0, false},
		{"no pages", []NICReport{{Host: "productpage", ModeledUS: 10}}, 0, false},
		// Every NIC's time counts; only productpage's requests are pages.
		{"summed over hosts", []NICReport{
			{Host: "productpage", ModeledUS: 300, RequestsIn: 10},
			{Host: "details", ModeledUS: 100, RequestsIn: 10},
			{Host: "reviews-v3", ModeledUS: 200, RequestsIn: 10},
		}, 60, true},
	} {
		s := Series{NICs: tc.nics}
		got, ok := s.ModeledPerPage()
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestProjections(t *testing.T) {
	r := &Results{
		Baseline: "direct",
		Series: []Series{
			{Name: "direct"},
			{Name: "sidecar-both"},
			{Name: "nic-offload", NICs: []NICReport{{Host: "productpage", ModeledUS: 2500, RequestsIn: 10}}},
		},
		Cells: []Cell{
			{Series: "direct", Connections: 1, P90: 1.5},
			{Series: "direct", Connections: 4, P90: 4},
			{Series: "sidecar-both", Connections: 1, P90: 3},
			{Series: "nic-offload", Connections: 1, P90: 2.9},
		},
	}
	ps := r.Projections()
	if len(ps) != 1 {
		t.Fatalf("%d projections, want 1 (only nic-offload has NIC accounts)", len(ps))
	}
	p := ps[0]
	if p.Series != "nic-offload" || p.Baseline != "direct" || p.ModeledPerPageUS != 250 {
		t.Errorf("projection %+v", p)
	}
	// The baseline's p90 plus 0.25 ms, at every level the baseline has.
	if len(p.P90) != 2 || math.Abs(float64(p.P90[1])-1.75) > 1e-9 || math.Abs(float64(p.P90[4])-4.25) > 1e-9 {
		t.Errorf("projected p90 %v", p.P90)
	}
	r.Baseline = ""
	if ps := r.Projections(); ps != nil {
		t.Errorf("without a baseline: %+v", ps)
	}
}

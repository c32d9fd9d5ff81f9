package swapcheck

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// Generation 0 installed over [0,1] ms, 1 over [10,12], 2 over [20,21].
	swaps := []Swap{{Start: at(0), End: at(1)}, {Start: at(10), End: at(12)}, {Start: at(20), End: at(21)}}
	gens := map[string]int{"g0": 0, "g1": 1, "g2": 2}
	ans := func(sent, recv, gen, conn int) Answer {
		return Answer{Sent: at(sent), Recv: at(recv), Status: 200, Cluster: "g" + string(rune('0'+gen)), Conn: conn}
	}
	for _, tc := range []struct {
		name string
		a    []Answer
		want string // a problem's text; "" for none
	}{
		{"current", []Answer{ans(2, 3, 0, 0), ans(11, 12, 0, 1), ans(11, 13, 1, 0), ans(30, 31, 2, 0)}, ""},
		{"status", []Answer{{Sent: at(2), Recv: at(3), Status: 503, Details: "no_healthy_upstream", Cluster: "g0"}}, "status 503 (no_healthy_upstream)"},
		{"no generation", []Answer{{Sent: at(2), Recv: at(3), Status: 200, Cluster: "x"}}, `routing header "x" names no generation`},
		{"too early", []Answer{ans(2, 3, 1, 0)}, "whose swap started after the answer arrived"},
		{"stale", []Answer{ans(13, 14, 0, 0)}, "generation 1 was installed before the request was sent"},
		{"back", []Answer{ans(11, 13, 1, 0), ans(11, 13, 0, 0)}, "connection 0 went back from generation 1 to 0"},
	} {
		r := Check(swaps, gens, tc.a, nil)
		got := strings.Join(r.Problems, "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.name, got, tc.want)
		}
	}
	r := Check(swaps, gens, []Answer{ans(2, 3, 0, 0), ans(30, 31, 2, 0)}, func(i, gen int) string {
		if i == 1 && gen == 2 {
			return "wrong upstream"
		}
		return ""
	})
	if r.Served != 2 || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "wrong upstream") {
		t.Errorf("extra check: %+v", r)
	}
}

func TestDriveAndRunCheck(t *testing.T) {
	loads := 0
	run := Drive(2, 3, 40*time.Millisecond, func(g int) Swap {
		loads++
		sw := Swap{Start: time.Now()}
		if g == 2 {
			sw.Err = errors.New("bad module")
		}
		sw.End = time.Now()
		return sw
	}, func(id int, stop <-chan struct{}) ([]Answer, error) {
		<-stop
		if id == 1 {
			return nil, errors.New("reset")
		}
		now := time.Now()
		return []Answer{{Sent: now, Recv: now, Status: 200, Cluster: "c3", Conn: id}}, nil
	})
	if loads != 4 || len(run.Swaps) != 4 || len(run.Answers) != 1 || len(run.Errs) != 1 {
		t.Fatalf("%d loads, run %+v", loads, run)
	}
	res := run.Check(func(g int) string { return "c" + string(rune('0'+g)) }, nil)
	got := strings.Join(res.Problems, "; ")
	if res.Served != 1 || len(res.Problems) != 2 || !strings.Contains(got, "swap to generation 2 failed: bad module") ||
		!strings.Contains(got, "transport error: connection 1: reset") {
		t.Errorf("result %+v", res)
	}
	// A failed first load stops the run before any load.
	run = Drive(2, 3, time.Second, func(int) Swap { return Swap{Err: errors.New("no")} }, func(int, <-chan struct{}) ([]Answer, error) {
		t.Error("a worker ran after generation 0 failed")
		return nil, nil
	})
	if len(run.Swaps) != 1 || run.Answers != nil {
		t.Errorf("run after a failed first load: %+v", run)
	}
}

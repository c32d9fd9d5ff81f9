// Package swapcheck judges a hot swap under load: a filter replaced again
// and again through a data plane's admin API while clients keep sending,
// each generation of the filter routing to a cluster of its own. Given when
// each swap began and ended and what every client saw, it says whether any
// request was lost or routed by a generation that was not current. The
// sidecar's and the NIC's swap tests share it.
package swapcheck

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Swap is one generation's installation: the admin call's start and end
// bracket the instant it became current; Err is its failure, if any.
type Swap struct {
	Start, End time.Time
	Err        error
}

// Answer is one response a client saw.
type Answer struct {
	Sent, Recv time.Time
	Status     int
	Details    string // the data plane's explanation of a non-200, if any
	Cluster    string // the cluster its request was routed to (the routing header)
	Upstream   string // the upstream that answered, when it says
	Conn       int    // the client connection it came on
}

// Run is what a swap-under-load run saw.
type Run struct {
	// Swaps are the installations in generation order.
	Swaps []Swap
	// Answers are every worker's answers.
	Answers []Answer
	// Errs are the workers' transport errors.
	Errs []string
}

// Drive runs the load: conns workers (worker(id, stop) sends requests on
// connection id until stop closes) for span, while generations 1..swaps
// are installed at even intervals with load. Generation 0 is installed
// before the workers start; if that fails, Drive returns at once with that
// one swap.
func Drive(conns, swaps int, span time.Duration, load func(gen int) Swap,
	worker func(id int, stop <-chan struct{}) ([]Answer, error)) *Run {
	installed := []Swap{load(0)}
	if installed[0].Err != nil {
		return &Run{Swaps: installed}
	}
	var answers []Answer
	var errs []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			local, err := worker(id, stop)
			mu.Lock()
			defer mu.Unlock()
			answers = append(answers, local...)
			if err != nil {
				errs = append(errs, fmt.Sprintf("connection %d: %v", id, err))
			}
		}(i)
	}
	interval := span / time.Duration(swaps+1)
	next := time.Now()
	for g := 1; g <= swaps; g++ {
		next = next.Add(interval)
		time.Sleep(time.Until(next))
		installed = append(installed, load(g))
	}
	time.Sleep(time.Until(next.Add(interval)))
	close(stop)
	wg.Wait()
	return &Run{Swaps: installed, Answers: answers, Errs: errs}
}

// Check judges the run (see Check); the swaps that failed and the
// transport errors are problems too. clusters names generation g's
// cluster.
func (r *Run) Check(clusters func(gen int) string, extra func(i, gen int) string) Result {
	gens := map[string]int{}
	for g := range r.Swaps {
		gens[clusters(g)] = g
	}
	res := Check(r.Swaps, gens, r.Answers, extra)
	var pre []string
	for g, sw := range r.Swaps {
		if sw.Err != nil {
			pre = append(pre, fmt.Sprintf("swap to generation %d failed: %v", g, sw.Err))
		}
	}
	for _, e := range r.Errs {
		pre = append(pre, "transport error: "+e)
	}
	res.Problems = append(pre, res.Problems...)
	return res
}

// Report fails t with the first ten problems.
func (r Result) Report(t testing.TB) {
	t.Helper()
	for i, p := range r.Problems {
		if i == 10 {
			t.Errorf("... and %d more problems", len(r.Problems)-10)
			break
		}
		t.Error(p)
	}
}

// Result is the judgement.
type Result struct {
	// Problems describe the bad answers, each prefixed with the request's
	// send and answer times.
	Problems []string
	// Served counts the generations that routed at least one request.
	Served int
}

// Check judges answers against swaps (generation g installed by swaps[g]);
// gens maps each generation's cluster to the generation. An answer is bad
// when its status is not 200, its cluster names no generation, its
// generation's swap started only after it arrived, the next generation was
// installed before it was sent, extra (if not nil) says what else is wrong
// with answers[i] (of generation gen), or its connection had already seen
// a later generation.
func Check(swaps []Swap, gens map[string]int, answers []Answer, extra func(i, gen int) string) Result {
	var r Result
	last := len(swaps) - 1
	perGen := make([]int, len(swaps))
	lastGen := map[int]int{}
	for i := range answers {
		a := &answers[i]
		g, ok := gens[a.Cluster]
		ok = ok && g >= 0 && g <= last
		problem := ""
		switch {
		case a.Status != 200:
			problem = fmt.Sprintf("status %d", a.Status)
			if a.Details != "" {
				problem += " (" + a.Details + ")"
			}
		case !ok:
			problem = fmt.Sprintf("routing header %q names no generation", a.Cluster)
		case !swaps[g].Start.Before(a.Recv):
			problem = fmt.Sprintf("routed by generation %d, whose swap started after the answer arrived", g)
		case g < last && swaps[g+1].End.Before(a.Sent):
			problem = fmt.Sprintf("routed by generation %d although generation %d was installed before the request was sent", g, g+1)
		case extra != nil && extra(i, g) != "":
			problem = extra(i, g)
		case g < lastGen[a.Conn]:
			problem = fmt.Sprintf("connection %d went back from generation %d to %d", a.Conn, lastGen[a.Conn], g)
		}
		if ok {
			perGen[g]++
			lastGen[a.Conn] = max(lastGen[a.Conn], g)
		}
		if problem != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("request sent %s, answered %s: %s",
				a.Sent.Format("15:04:05.000000"), a.Recv.Format("15:04:05.000000"), problem))
		}
	}
	for _, n := range perGen {
		if n > 0 {
			r.Served++
		}
	}
	return r
}

//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicrt/nicrt/admin"
)

// nicSwapKind is one of the two real filters the NIC swap test alternates,
// configured to route every request for host "echo" to the cluster its
// generation names.
type nicSwapKind struct {
	file    string // under filters/
	config  func(g int) string
	cluster func(g int) string
}

var nicSwapKinds = [2]nicSwapKind{
	{"lb.wasm",
		func(g int) string {
			return `{"service": "echo", "policy": "round_robin", "clusters": ["lb-gen-` + strconv.Itoa(g) + `"]}`
		},
		func(g int) string { return "lb-gen-" + strconv.Itoa(g) }},
	{"route.wasm",
		// Istio destination host "route-gen", subset g: cluster
		// "route-gen-g" under route's default naming.
		func(g int) string {
			return `{"hosts": ["echo"], "http": [{"route": [{"destination": {"host": "route-gen", "subset": "` + strconv.Itoa(g) + `"}}]}]}`
		},
		func(g int) string { return "route-gen-" + strconv.Itoa(g) }},
}

// nicSwapObs is one response a load worker saw.
type nicSwapObs struct {
	sent, recv time.Time
	status     int
	cluster    string // the routing header the upstream received
	conn       int
}

// TestNICAdminSwapUnderLoad is the "run-time pluggable" check: a
// live `nicrt nic` relay (default model) with --admin carries keep-alive
// load from 8 connections while `nicrt load` (the real command, a process
// per swap) replaces its filter again and again, alternating lb.wasm and
// route.wasm, each generation routing to a cluster of its own name (the
// upstream echoes the routing header it received). Zero requests may be
// lost: no transport error, only 200s, each request routed by a
// generation that was current between its send and its answer, no
// connection going back to an older generation, and the NIC's summary
// shows no drop, reset or filter error.
func TestNICAdminSwapUnderLoad(t *testing.T) {
	dir := wasmDirForTests(t)
	for _, k := range nicSwapKinds {
		if _, err := os.Stat(filepath.Join(dir, k.file)); err != nil {
			t.Skipf("%s is not built (make filters): %v", k.file, err)
		}
	}
	const (
		conns = 8
		swaps = 12
		span  = 8 * time.Second
	)
	bin := buildNicrt(t)
	up, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-upstream-cluster", r.Header.Get("x-nicrt-cluster"))
		io.WriteString(w, "ok")
	})}
	go srv.Serve(up)
	defer srv.Close()
	p := startNICProc(t, bin, "--upstream", up.Addr().String(), "--admin", "127.0.0.1:0")

	type swapEvent struct {
		start, end time.Time
		err        error
	}
	load := func(g int) swapEvent {
		k := nicSwapKinds[g%2]
		ev := swapEvent{start: time.Now()}
		out, err := exec.Command(bin, "load", filepath.Join(dir, k.file), "--admin", p.admin,
			"--name", "router", "--config", k.config(g)).CombinedOutput()
		ev.end = time.Now()
		if err != nil {
			ev.err = fmt.Errorf("nicrt load: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "loaded router into chain ingress") {
			ev.err = fmt.Errorf("nicrt load printed:\n%s", out)
		}
		return ev
	}
	events := []swapEvent{load(0)}
	if events[0].err != nil {
		t.Fatalf("loading generation 0: %v\nNIC stderr:\n%s", events[0].err, p.stderr)
	}

	var mu sync.Mutex
	var obs []nicSwapObs
	var transportErrs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			local, err := nicSwapWorker(p.addr, id, stop)
			mu.Lock()
			defer mu.Unlock()
			obs = append(obs, local...)
			if err != nil {
				transportErrs = append(transportErrs, fmt.Sprintf("connection %d: %v", id, err))
			}
		}(i)
	}
	interval := span / (swaps + 1)
	next := time.Now()
	for g := 1; g <= swaps; g++ {
		next = next.Add(interval)
		time.Sleep(time.Until(next))
		events = append(events, load(g))
	}
	time.Sleep(time.Until(next.Add(interval)))
	close(stop)
	wg.Wait()

	for g, ev := range events {
		if ev.err != nil {
			t.Errorf("swap to generation %d: %v", g, ev.err)
		}
	}
	if len(transportErrs) > 0 {
		t.Errorf("%d transport errors: %s", len(transportErrs), strings.Join(transportErrs, "; "))
	}
	gens := map[string]int{}
	for g := 0; g <= swaps; g++ {
		gens[nicSwapKinds[g%2].cluster(g)] = g
	}
	bad, perGen, lastGen := 0, make([]int, swaps+1), map[int]int{}
	for _, o := range obs {
		g, ok := gens[o.cluster]
		problem := ""
		switch {
		case o.status != 200:
			problem = fmt.Sprintf("status %d", o.status)
		case !ok:
			problem = fmt.Sprintf("routing header %q names no generation", o.cluster)
		case !events[g].start.Before(o.recv):
			problem = fmt.Sprintf("routed by generation %d, whose swap started after the answer arrived", g)
		case g < swaps && events[g+1].end.Before(o.sent):
			problem = fmt.Sprintf("routed by generation %d although generation %d was installed before the request was sent", g, g+1)
		case g < lastGen[o.conn]:
			problem = fmt.Sprintf("connection %d went back from generation %d to %d", o.conn, lastGen[o.conn], g)
		}
		if ok {
			perGen[g]++
			lastGen[o.conn] = max(lastGen[o.conn], g)
		}
		if problem != "" {
			bad++
			if bad <= 10 {
				t.Errorf("request sent %s, answered %s: %s", o.sent.Format("15:04:05.000000"), o.recv.Format("15:04:05.000000"), problem)
			}
		}
	}
	served := 0
	for _, n := range perGen {
		if n > 0 {
			served++
		}
	}
	var took []string
	for _, ev := range events[1:] {
		took = append(took, ev.end.Sub(ev.start).Round(time.Millisecond).String())
	}
	t.Logf("%d requests over %d connections in %v, %d swaps (lb ↔ route, each a `nicrt load` process: %s), %d generations served requests, %d problems",
		len(obs), conns, span, swaps, strings.Join(took, " "), served, bad)
	if len(obs) < swaps*conns {
		t.Errorf("only %d requests: too few to say anything", len(obs))
	}
	if served < swaps*9/10 {
		t.Errorf("only %d of %d generations served requests: the swaps were not exercised under load", served, swaps+1)
	}

	// The NIC's own account agrees: its admin API lists the last
	// generation's filter, and at exit nothing was dropped or reset.
	ls, err := exec.Command(bin, "ls", "--admin", p.admin, "--json").Output()
	if err != nil {
		t.Fatalf("nicrt ls: %v", err)
	}
	var list admin.ListResponse
	if err := json.Unmarshal(ls, &list); err != nil || list.Kind != "nic" || len(list.Chains) != 1 || len(list.Chains[0].Filters) != 1 ||
		list.Chains[0].Filters[0].Config != nicSwapKinds[swaps%2].config(swaps) {
		t.Errorf("nicrt ls --json (%v):\n%s", err, ls)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, p.stderr)
	}
	out := p.out.String()
	if !strings.Contains(out, "filters: 0 local replies, 0 failures (answered 500), 0 resets, 0 paused; NIC: 0 replies of its own, 0 connections reset") ||
		strings.Contains(out, "dropped frames") || strings.Contains(out, "error: ") {
		t.Errorf("the NIC's summary shows a loss:\n%s", out)
	}
}

// nicSwapWorker sends GETs on one keep-alive connection until stop.
func nicSwapWorker(addr string, id int, stop chan struct{}) ([]nicSwapObs, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var out []nicSwapObs
	for {
		select {
		case <-stop:
			return out, nil
		default:
		}
		req, err := http.NewRequest("GET", "http://"+addr+"/swap", nil)
		if err != nil {
			return out, err
		}
		req.Host = "echo:8080"
		o := nicSwapObs{sent: time.Now(), conn: id}
		resp, err := client.Do(req)
		if err != nil {
			return out, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		o.recv, o.status, o.cluster = time.Now(), resp.StatusCode, resp.Header.Get("x-upstream-cluster")
		out = append(out, o)
		if resp.Close {
			return out, fmt.Errorf("the connection was closed (status %d)", resp.StatusCode)
		}
	}
}

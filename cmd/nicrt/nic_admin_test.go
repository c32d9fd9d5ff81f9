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
	"testing"
	"time"

	"github.com/nicrt/nicrt/admin"
	"github.com/nicrt/nicrt/internal/swapcheck"
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

	load := func(g int) swapcheck.Swap {
		k := nicSwapKinds[g%2]
		ev := swapcheck.Swap{Start: time.Now()}
		out, err := exec.Command(bin, "load", filepath.Join(dir, k.file), "--admin", p.admin,
			"--name", "router", "--config", k.config(g)).CombinedOutput()
		ev.End = time.Now()
		if err != nil {
			ev.Err = fmt.Errorf("nicrt load: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "loaded router into chain ingress") {
			ev.Err = fmt.Errorf("nicrt load printed:\n%s", out)
		}
		return ev
	}
	run := swapcheck.Drive(conns, swaps, span, load, func(id int, stop <-chan struct{}) ([]swapcheck.Answer, error) {
		return nicSwapWorker(p.addr, id, stop)
	})
	if err := run.Swaps[0].Err; err != nil {
		t.Fatalf("loading generation 0: %v\nNIC stderr:\n%s", err, p.stderr)
	}
	res := run.Check(func(g int) string { return nicSwapKinds[g%2].cluster(g) }, nil)
	res.Report(t)
	var took []string
	for _, ev := range run.Swaps[1:] {
		took = append(took, ev.End.Sub(ev.Start).Round(time.Millisecond).String())
	}
	t.Logf("%d requests over %d connections in %v, %d swaps (lb ↔ route, each a `nicrt load` process: %s), %d generations served requests, %d problems",
		len(run.Answers), conns, span, swaps, strings.Join(took, " "), res.Served, len(res.Problems))
	if len(run.Answers) < swaps*conns {
		t.Errorf("only %d requests: too few to say anything", len(run.Answers))
	}
	if res.Served < swaps*9/10 {
		t.Errorf("only %d of %d generations served requests: the swaps were not exercised under load", res.Served, swaps+1)
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
	// Its stats: the NIC's own counters and the filters', one scrape.
	resp, err := http.Get("http://" + p.admin + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	prom, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`nicrt_nic_kind_messages_total{kind="requests_in"} `, `nicrt_nic_underruns_total `,
		`nicrt_wasm_streams_total{chain="ingress",plugin="router"} `, "nicrt_admin_loads_total 13"} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("/stats/prometheus lacks %q:\n%s", want, prom)
		}
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
func nicSwapWorker(addr string, id int, stop <-chan struct{}) ([]swapcheck.Answer, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var out []swapcheck.Answer
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
		o := swapcheck.Answer{Sent: time.Now(), Conn: id}
		resp, err := client.Do(req)
		if err != nil {
			return out, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		// The upstream echoes the routing header it received.
		o.Recv, o.Status, o.Cluster = time.Now(), resp.StatusCode, resp.Header.Get("x-upstream-cluster")
		out = append(out, o)
		if resp.Close {
			return out, fmt.Errorf("the connection was closed (status %d)", resp.StatusCode)
		}
	}
}

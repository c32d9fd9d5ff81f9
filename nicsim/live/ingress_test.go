package live

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nicrt/nicrt/nicsim/model"
)

// TestIngressHTTP: a Go HTTP server behind the NIC's listener answers
// keep-alive GETs, echoes a body much larger than a frame, and streams a
// chunked response; every byte crosses the NIC once each way.
func TestIngressHTTP(t *testing.T) {
	n := newNIC(t, Options{})
	ln := listen(t)
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body) // all of it before answering (net/http's rule)
			w.Write(b)
		case "/chunked":
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, "part %d\n", i)
				w.(http.Flusher).Flush()
			}
		default:
			io.WriteString(w, "hello "+r.URL.Path)
		}
	}))
	url := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 0; i < 20; i++ {
		resp, err := client.Get(fmt.Sprintf("%s/%d", url, i))
		if err != nil {
			t.Fatal(err)
		}
		if got := body(resp); got != fmt.Sprintf("hello /%d", i) {
			t.Fatalf("GET %d: %q", i, got)
		}
		resp.Body.Close()
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: 220 frames
	resp, err := client.Post(url+"/echo", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if got := body(resp); got != string(big) {
		t.Fatalf("echo returned %d bytes, want %d", len(got), len(big))
	}
	resp, err = client.Get(url + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	if got := body(resp); got != "part 0\npart 1\npart 2\npart 3\npart 4\n" {
		t.Fatalf("chunked: %q", got)
	}
	client.CloseIdleConnections()
	waitQuiet(t, n)
	st := n.Stats()
	for d := 0; d < 2; d++ {
		if st.FramesIn[d] != st.FramesOut[d] || st.BytesIn[d] != st.BytesOut[d] {
			t.Errorf("direction %d: %d frames / %d bytes in, %d / %d out", d, st.FramesIn[d], st.BytesIn[d], st.FramesOut[d], st.BytesOut[d])
		}
	}
	if st.Messages[1] != 22 || st.Messages[0] != 22 {
		t.Errorf("messages released: %v, want 22 requests and 22 responses", st.Messages)
	}
	if st.FramesIn[1] < 220 {
		t.Errorf("only %d ingress frames for a 320 KB body", st.FramesIn[1])
	}
	if st.Sim.Engine.Messages != 44 || int64(st.Sim.Flows) != st.Connections["ingress"] {
		t.Errorf("simulation saw %d messages in %d flows", st.Sim.Engine.Messages, st.Sim.Flows)
	}
}

// TestIngressHoldsForTheModel: nothing leaves before the model says. A
// model whose engines take 2 ms per message must make a request and its
// response take at least 4 ms end to end; the NIC's own bookkeeping agrees.
func TestIngressHoldsForTheModel(t *testing.T) {
	c := model.Default()
	c.Name = "slow"
	c.Engine.PerMessageCycles = 500_000 // 2 ms at 250 MHz
	n := newNIC(t, Options{Model: c})
	ln := listen(t)
	var seen atomic.Int64
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(time.Now().UnixNano())
		io.WriteString(w, "ok")
	}))
	for i := 0; i < 5; i++ {
		start := time.Now()
		rs := exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		took := time.Since(start)
		if len(rs) != 1 || rs[0].StatusCode != 200 {
			t.Fatalf("no answer")
		}
		if in := time.Unix(0, seen.Load()).Sub(start); in < 2*time.Millisecond {
			t.Errorf("the service saw the request %v after it was sent; the model holds it 2 ms", in)
		}
		if took < 4*time.Millisecond {
			t.Errorf("exchange took %v; the model holds request and response 2 ms each", took)
		}
	}
	st := n.Stats()
	if st.Sim.Stages[0].Frames == 0 || st.Sim.Engine.Service < 10*2*model.Millisecond {
		t.Errorf("engine service %v for %d messages", st.Sim.Engine.Service, st.Sim.Engine.Messages)
	}
}

// TestIngressLocalReply: a filter's local response goes back to the client
// from the NIC; the service never sees the request.
func TestIngressLocalReply(t *testing.T) {
	n, ln, calls := countedService(t, "from the service")
	rs := exchange(t, ln.Addr().String(), "GET /a HTTP/1.1\r\nHost: x\r\nx-test: local\r\n\r\n", 1)
	if len(rs) != 1 || rs[0].StatusCode != 418 || body(rs[0]) != "teapot" || rs[0].Header.Get("x-local") != "1" {
		t.Fatalf("local reply: %+v", rs)
	}
	if calls.Load() != 0 {
		t.Fatalf("the service saw a request the filter answered")
	}
	// The same connection goes on: pipelined, the local reply keeps its
	// place between the service's responses.
	raw := "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /2 HTTP/1.1\r\nHost: x\r\nx-test: local\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	rs = exchange(t, ln.Addr().String(), raw, 3)
	var got []int
	for _, r := range rs {
		got = append(got, r.StatusCode)
	}
	if fmt.Sprint(got) != "[200 418 200]" || calls.Load() != 2 {
		t.Fatalf("pipelined statuses %v, service calls %d; want [200 418 200], 2", got, calls.Load())
	}
	waitQuiet(t, n)
	if st := n.Stats(); st.LocalReplies != 2 || st.FilterErrors != 0 {
		t.Errorf("stats: %d local replies, %d filter errors", st.LocalReplies, st.FilterErrors)
	}
}

// TestIngressFilterFailure: a filter that traps fails closed: the NIC
// answers 500 with a details field, the service never sees the request,
// and the next request passes once the runtime has replaced the VM.
func TestIngressFilterFailure(t *testing.T) {
	n, ln, calls := countedService(t, "ok")
	rs := exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nx-test: panic\r\n\r\n", 1)
	if len(rs) != 1 || rs[0].StatusCode != 500 || rs[0].Header.Get("x-nicrt-details") == "" {
		t.Fatalf("failure answer: %+v", rs)
	}
	if calls.Load() != 0 {
		t.Fatal("the service saw a request whose filter failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs = exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
		if len(rs) == 1 && rs[0].StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests keep failing after the trap: %+v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := n.Stats(); st.FilterErrors < 1 || !strings.Contains(strings.Join(st.Errors, "\n"), "panic") {
		t.Errorf("stats: %d filter errors, errors %q", st.FilterErrors, st.Errors)
	}
}

// TestIngressRewrite: headers a filter adds reach the service (the NIC
// delivers the rewritten message, re-segmented by the simulation).
func TestIngressRewrite(t *testing.T) {
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: testguest, config: "bench=1"})
	n := newNIC(t, Options{Engines: es})
	ln := listen(t)
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "x-bench=%s body=%d", r.Header.Get("x-bench"), len(b))
	}))
	payload := strings.Repeat("p", 5000)
	rs := exchange(t, ln.Addr().String(), fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(payload), payload), 1)
	if len(rs) != 1 || body(rs[0]) != "x-bench=1 body=5000" {
		t.Fatalf("rewritten request: %+v", rs)
	}
	waitQuiet(t, n)
	if st := n.Stats(); st.Sim.Rewritten != 1 || st.Sim.Engine.Instructions == 0 {
		t.Errorf("rewritten %d, instructions %d", st.Sim.Rewritten, st.Sim.Engine.Instructions)
	}
}

// countedService is a service behind a NIC running the test guest; it
// answers body and counts the requests it saw.
func countedService(t *testing.T, answer string) (*NIC, net.Listener, *atomic.Int64) {
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: testguest})
	n := newNIC(t, Options{Engines: es})
	ln := listen(t)
	calls := new(atomic.Int64)
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, answer)
	}))
	return n, ln, calls
}

// TestModeledTime: the NIC's Modeled account is the model's own time, free
// of host overhead. passthrough-100us is calibrated so that one fetch on a
// fresh connection (SYN, SYN-ACK, request, response) crosses it in 100 µs;
// every fetch adds that, however slow the host was.
func TestModeledTime(t *testing.T) {
	n := newNIC(t, Options{Model: testModel(t, "passthrough-100us")})
	ln := listen(t)
	serve(t, n.Listener(ln), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	const fetches = 5
	for i := 0; i < fetches; i++ {
		resps := exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
		if len(resps) != 1 || resps[0].StatusCode != 200 {
			t.Fatalf("fetch %d: %d responses", i, len(resps))
		}
	}
	waitQuiet(t, n)
	st := n.Stats()
	if st.Requests != [2]int64{0, fetches} || st.Messages != [2]int64{fetches, fetches} {
		t.Fatalf("requests %v, messages %v: want %d requests in and %d messages each way", st.Requests, st.Messages, fetches, fetches)
	}
	per := st.Modeled / fetches
	t.Logf("modeled per fetch: %v", per)
	if per < 95*time.Microsecond || per > 105*time.Microsecond {
		t.Errorf("modeled time per fetch %v, want 100 µs ± 5 µs (the preset's calibration)", per)
	}
	var sb strings.Builder
	st.WriteSummary(&sb)
	if !strings.Contains(sb.String(), "modeled: the card added") {
		t.Errorf("the summary does not report the modeled time:\n%s", sb.String())
	}
}

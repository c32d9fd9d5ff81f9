package live

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// The live NIC's benchmarks. The machine is shared and noisy, so every
// comparison with the direct path is made side by side in one run,
// interleaving direct and NIC requests, and reported as medians.

// hello is the service the benchmarks call: a short answer.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

// freshGet is what curl does: connect, send a GET, read the answer until
// the server closes, and return the time it all took.
func freshGet(b testing.TB, addr string, buf []byte) time.Duration {
	start := time.Now()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"); err != nil {
		b.Fatal(err)
	}
	total := 0
	for {
		k, err := c.Read(buf)
		total += k
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start)
	c.Close()
	if total == 0 {
		b.Fatal("empty answer")
	}
	return took
}

func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func pct(v []time.Duration, q float64) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

func usf(d time.Duration) float64 { return float64(d) / 1e3 }

// BenchmarkPassthrough100us checks the seed paper's pass-through SmartNIC:
// a fresh GET through the NIC with the passthrough-100us model takes
// 100 µs ± 20 µs longer than the same GET directly (medians, direct and
// NIC requests interleaved). It fails when the median difference is out of
// that band over at least 200 pairs; run it with -benchtime 300x or more:
//
//	go test ./nicsim/live -run '^$' -bench Passthrough100us -benchtime 400x
func BenchmarkPassthrough100us(b *testing.B) {
	n := newNIC(b, Options{Model: testModel(b, "passthrough-100us")})
	direct, behind := listen(b), listen(b)
	serve(b, direct, hello)
	serve(b, n.Listener(behind), hello)
	buf := make([]byte, 4096)
	for i := 0; i < 20; i++ { // warm up both paths
		freshGet(b, direct.Addr().String(), buf)
		freshGet(b, behind.Addr().String(), buf)
	}
	var d, v []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, freshGet(b, direct.Addr().String(), buf))
		v = append(v, freshGet(b, behind.Addr().String(), buf))
	}
	b.StopTimer()
	added := median(v) - median(d)
	b.ReportMetric(usf(median(d)), "direct-p50-µs")
	b.ReportMetric(usf(median(v)), "nic-p50-µs")
	b.ReportMetric(usf(added), "added-µs")
	st := n.Stats()
	b.ReportMetric(usf(st.MessageLateness.P50), "late-p50-µs")
	b.ReportMetric(100*st.UnderrunRate(), "underrun-%")
	if b.N >= 200 && (added < 80*time.Microsecond || added > 120*time.Microsecond) {
		b.Fatalf("the NIC added %v over direct (median of %d pairs; direct %v, NIC %v); the model says 100 µs ± 20 µs",
			added, b.N, median(d), median(v))
	}
}

// keptGet sends a GET on a kept-alive connection and reads its answer.
type keptConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKept(b testing.TB, addr string) *keptConn {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &keptConn{c: c, br: bufio.NewReaderSize(c, 4096)}
}

func (k *keptConn) get(b testing.TB) time.Duration {
	start := time.Now()
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start)
}

// BenchmarkLiveOverhead measures the live NIC's host overhead: with a
// zero-cost model (every modeled latency ~0) all the time the NIC adds is
// the host's own work — reading, framing, simulating, releasing, waking
// the service. A request and its response on a kept-alive connection, NIC
// and direct interleaved; reported per message (half an exchange).
func BenchmarkLiveOverhead(b *testing.B) {
	n := newNIC(b, Options{Model: testModel(b, "testdata/zero.yaml")})
	direct, behind := listen(b), listen(b)
	serve(b, direct, hello)
	serve(b, n.Listener(behind), hello)
	dc, nc := dialKept(b, direct.Addr().String()), dialKept(b, behind.Addr().String())
	defer dc.c.Close()
	defer nc.c.Close()
	for i := 0; i < 100; i++ {
		dc.get(b)
		nc.get(b)
	}
	var d, v []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, dc.get(b))
		v = append(v, nc.get(b))
	}
	b.StopTimer()
	st := n.Stats()
	b.ReportMetric(usf(pct(d, .5)), "direct-p50-µs")
	b.ReportMetric(usf(pct(v, .5)), "nic-p50-µs")
	b.ReportMetric(usf(pct(v, .5)-pct(d, .5))/2, "overhead-p50-µs/msg")
	b.ReportMetric(usf(pct(v, .9)-pct(d, .9))/2, "overhead-p90-µs/msg")
	b.ReportMetric(usf(st.MessageLateness.P50), "late-p50-µs")
	b.ReportMetric(usf(st.MessageLateness.P90), "late-p90-µs")
}

// BenchmarkLiveConnections runs the default model (fpga-250mhz) under
// closed-loop load from 1, 4 and 16 kept-alive connections, with
// pass-through engines and with a filter (the test guest stamping a header
// on every request: about 8000 wasm instructions per request, 32 µs of
// engine time at one instruction per cycle), and reports how often the host
// could not keep up with the model (underruns: messages released more than
// DefaultTolerance late) and the lateness.
func BenchmarkLiveConnections(b *testing.B) {
	for _, withFilter := range []bool{false, true} {
		for _, conns := range []int{1, 4, 16} {
			name := fmt.Sprintf("engines=pass/conns=%d", conns)
			if withFilter {
				name = fmt.Sprintf("engines=wasm/conns=%d", conns)
			}
			b.Run(name, func(b *testing.B) {
				opt := Options{}
				if withFilter {
					opt.Engines, _, _ = wasmEngines(b, 4, 2, filter{dir: testguest, config: "bench=1"})
				}
				benchConns(b, newNIC(b, opt), conns)
			})
		}
	}
}

// BenchmarkLiveConnectionsPaced is BenchmarkLiveConnections at a fixed,
// moderate rate — 1000 requests/s spread over the connections — instead
// of as fast as the clients go: whether the default model is realizable
// when the host's two cores are not saturated by the load itself.
func BenchmarkLiveConnectionsPaced(b *testing.B) {
	for _, conns := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			benchConnsPaced(b, newNIC(b, Options{}), conns, 1000)
		})
	}
}

func benchConns(b *testing.B, n *NIC, conns int) { benchConnsPaced(b, n, conns, 0) }

// benchConnsPaced sends b.N requests over conns kept-alive connections,
// at qps requests per second in total (0: as fast as they go).
func benchConnsPaced(b *testing.B, n *NIC, conns int, qps float64) {
	behind := listen(b)
	serve(b, n.Listener(behind), hello)
	cs := make([]*keptConn, conns)
	for i := range cs {
		cs[i] = dialKept(b, behind.Addr().String())
		defer cs[i].c.Close()
		cs[i].get(b)
	}
	before := n.Stats()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range cs {
		wg.Add(1)
		go func(k *keptConn, reqs int, first time.Duration) {
			defer wg.Done()
			var every time.Duration
			if qps > 0 {
				every = time.Duration(float64(conns) / qps * float64(time.Second))
			}
			next := start.Add(first)
			for j := 0; j < reqs; j++ {
				if every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(every)
				}
				k.get(b)
			}
		}(cs[i], b.N/conns+1, time.Duration(i)*time.Duration(float64(time.Second)/max(qps, 1)))
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	st := n.Stats()
	msgs := st.Messages[0] + st.Messages[1] - before.Messages[0] - before.Messages[1]
	b.ReportMetric(float64(msgs/2)/took.Seconds(), "req/s")
	b.ReportMetric(100*float64(st.Underruns-before.Underruns)/float64(msgs), "underrun-%")
	b.ReportMetric(usf(st.MessageLateness.P50), "late-p50-µs")
	b.ReportMetric(usf(st.MessageLateness.P90), "late-p90-µs")
	b.ReportMetric(usf(st.MessageLateness.P99), "late-p99-µs")
}

// BenchmarkReleasePrecision measures how punctually the NIC releases what
// the model holds long enough for its clock goroutine to sleep (1 ms per
// message): the lateness then is the release mechanism's own jitter — the
// OS waking the clock late (oversleep), hidden by waking a margin early and
// spinning the rest — not host work.
func BenchmarkReleasePrecision(b *testing.B) {
	c := testModel(b, "fpga-250mhz")
	c.Name = "hold-1ms"
	c.Engine.PerMessageCycles = 250_000 // 1 ms at 250 MHz
	n := newNIC(b, Options{Model: c})
	behind := listen(b)
	serve(b, n.Listener(behind), hello)
	k := dialKept(b, behind.Addr().String())
	defer k.c.Close()
	for i := 0; i < 20; i++ { // let the margin learn the OS's oversleep
		k.get(b)
	}
	before := n.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.get(b)
	}
	b.StopTimer()
	st := n.Stats()
	msgs := st.Messages[0] + st.Messages[1] - before.Messages[0] - before.Messages[1]
	b.ReportMetric(usf(st.MessageLateness.P50), "late-p50-µs")
	b.ReportMetric(usf(st.MessageLateness.P90), "late-p90-µs")
	b.ReportMetric(usf(st.MessageLateness.P99), "late-p99-µs")
	b.ReportMetric(usf(st.Oversleep.P50), "oversleep-p50-µs")
	b.ReportMetric(usf(st.Oversleep.P99), "oversleep-p99-µs")
	b.ReportMetric(usf(st.Margin), "margin-µs")
	b.ReportMetric(100*float64(st.Underruns-before.Underruns)/float64(msgs), "underrun-%")
}

// BenchmarkLiveAllocs compares heap allocations per kept-alive exchange
// with and without the NIC (zero-cost model): the difference is what the
// NIC allocates per request and response (the client and the Go HTTP
// server allocate the rest).
func BenchmarkLiveAllocs(b *testing.B) {
	for _, withNIC := range []bool{false, true} {
		name := "direct"
		if withNIC {
			name = "nic"
		}
		b.Run(name, func(b *testing.B) {
			ln := listen(b)
			var l net.Listener = ln
			if withNIC {
				l = newNIC(b, Options{Model: testModel(b, "testdata/zero.yaml")}).Listener(ln)
			}
			serve(b, l, hello)
			k := dialKept(b, ln.Addr().String())
			defer k.c.Close()
			for i := 0; i < 100; i++ {
				k.get(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k.get(b)
			}
		})
	}
}

// BenchmarkLiveFresh is BenchmarkLiveConnectionsPaced for fresh
// connections — connect, GET, read until close, one at a time — as
// Bookinfo's productpage makes to its upstreams: the SYN and SYN-ACK cross
// the NIC before the request may (docs/nicsim.md, "The handshake"). It
// runs them back to back and paced 2 ms and 20 ms apart: the less often a
// process handles a message, the colder its caches and TLBs are when the
// next one comes, and the longer the same work takes.
func BenchmarkLiveFresh(b *testing.B) {
	for _, every := range []time.Duration{0, 2 * time.Millisecond, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("every=%v", every), func(b *testing.B) {
			n := newNIC(b, Options{})
			behind := listen(b)
			serve(b, n.Listener(behind), hello)
			buf := make([]byte, 4096)
			for i := 0; i < 20; i++ {
				freshGet(b, behind.Addr().String(), buf)
			}
			before := n.Stats()
			b.ResetTimer()
			next := time.Now()
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Until(next))
				next = next.Add(every)
				freshGet(b, behind.Addr().String(), buf)
			}
			b.StopTimer()
			reportUnderruns(b, &before, n.Stats())
		})
	}
}

// reportUnderruns reports the underruns since before and the lateness of
// the NIC's messages, all and by kind (requests in, responses out).
func reportUnderruns(b *testing.B, before *Stats, st Stats) {
	msgs := st.Messages[0] + st.Messages[1] - before.Messages[0] - before.Messages[1]
	b.ReportMetric(100*float64(st.Underruns-before.Underruns)/float64(msgs), "underrun-%")
	b.ReportMetric(usf(st.MessageLateness.P50), "late-p50-µs")
	b.ReportMetric(usf(st.MessageLateness.P90), "late-p90-µs")
	b.ReportMetric(usf(st.ByKind[0].Lateness.P50), "req-late-p50-µs")
	b.ReportMetric(usf(st.ByKind[1].Lateness.P50), "resp-late-p50-µs")
}

// BenchmarkHostGaps measures the machine rather than the NIC: a goroutine
// reads the clock in a tight loop for b.N milliseconds and counts the gaps
// between two reads longer than DefaultTolerance — moments the OS or the
// hypervisor took the CPU away. A message in flight through the live NIC
// when such a gap hits its releasing goroutine leaves late whatever the
// NIC does; run it beside the other benchmarks to see the floor the
// machine sets at that moment:
//
//	go test ./nicsim/live -run '^$' -bench 'HostGaps|LiveConnectionsPaced' -benchtime 3000x
func BenchmarkHostGaps(b *testing.B) {
	var gaps int
	var lost time.Duration
	start := time.Now()
	end := start.Add(time.Duration(b.N) * time.Millisecond)
	prev := start
	for {
		now := time.Now()
		if g := now.Sub(prev); g > DefaultTolerance {
			gaps++
			lost += g
		}
		prev = now
		if now.After(end) {
			break
		}
	}
	took := time.Since(start)
	b.ReportMetric(float64(gaps)/took.Seconds(), "gaps/s")
	b.ReportMetric(100*float64(lost)/float64(took), "lost-%")
}

// BenchmarkRelayPassthrough100us is examples/passthrough-curl in one
// process: fresh GETs to an upstream directly, through a relay NIC with
// the passthrough-100us model and through a relay NIC with the zero-cost
// model (testdata/zero.yaml), interleaved. nic−zero is what the model adds
// over the relay's own hop, as the example reports it; the NIC's own
// account (modeled-µs/fetch) is what the model put in.
//
//	go test ./nicsim/live -run '^$' -bench RelayPassthrough100us -benchtime 1000x
func BenchmarkRelayPassthrough100us(b *testing.B) {
	up := listen(b)
	serve(b, up, hello)
	nic := newNIC(b, Options{Model: testModel(b, "passthrough-100us")})
	viaNIC := startRelay(b, nic, up.Addr().String())
	viaZero := startRelay(b, newNIC(b, Options{Model: testModel(b, "testdata/zero.yaml")}), up.Addr().String())
	direct := up.Addr().String()
	buf := make([]byte, 4096)
	for i := 0; i < 20; i++ {
		freshGet(b, direct, buf)
		freshGet(b, viaNIC, buf)
		freshGet(b, viaZero, buf)
	}
	before := nic.Stats()
	var d, v, z []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, freshGet(b, direct, buf))
		v = append(v, freshGet(b, viaNIC, buf))
		z = append(z, freshGet(b, viaZero, buf))
	}
	b.StopTimer()
	waitQuiet(b, nic)
	st := nic.Stats()
	b.ReportMetric(usf(median(d)), "direct-p50-µs")
	b.ReportMetric(usf(median(z)), "zero-p50-µs")
	b.ReportMetric(usf(median(v)), "nic-p50-µs")
	b.ReportMetric(usf(median(v)-median(z)), "nic−zero-µs")
	b.ReportMetric(usf(st.Modeled-before.Modeled)/float64(b.N), "modeled-µs/fetch")
}

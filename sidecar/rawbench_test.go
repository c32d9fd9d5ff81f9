package sidecar

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"syscall"
	"testing"
	"time"

	nrt "github.com/nicrt/nicrt/runtime"
	"github.com/nicrt/nicrt/sidecar/internal/echo"
	"github.com/nicrt/nicrt/sidecar/internal/h1"
)

// rawClient sends one fixed request at a time over a keep-alive connection
// and reads the response with the codec: the cheapest possible client, so
// the per-request numbers below are the proxy's.
type rawClient struct {
	c   net.Conn
	r   *h1.Reader
	req []byte
	h   h1.Head
	f   nrt.Fields
	b   h1.Body
}

func newRawClient(tb testing.TB, addr string, req string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawClient{c: c, r: h1.NewReader(c, 16<<10, 1<<20), req: []byte(req)}
}

func (rc *rawClient) roundTrip(tb testing.TB) int {
	if _, err := rc.c.Write(rc.req); err != nil {
		tb.Fatal(err)
	}
	head, err := rc.r.ReadHead(64 << 10)
	if err != nil {
		tb.Fatal(err)
	}
	rc.f = rc.f[:0]
	if err := h1.ParseResponse(head, "POST", h1.Limits{MaxFields: 100}, &rc.h, &rc.f); err != nil {
		tb.Fatal(err)
	}
	rc.b.Init(rc.r, rc.h.Framing, rc.h.ContentLength, 1<<16)
	for {
		if _, err := rc.b.Next(); err == io.EOF {
			break
		} else if err != nil {
			tb.Fatal(err)
		}
	}
	return rc.h.Status
}

// netHTTPProxy is the alternative the sidecar's codec was measured against:
// net/http's server and httputil.ReverseProxy with a keep-alive transport,
// no filters.
func netHTTPProxy(tb testing.TB, upstream string) string {
	target, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRawRoundTrip is one keep-alive connection sending a 1 KiB POST
// and reading the echo, in one process: directly, through net/http's
// reverse proxy, and through the sidecar (no filter, the testguest's
// trivial filter, and lb.wasm as the other sidecar benchmarks run it). process-cpu-µs/op is the whole process's CPU per round
// trip (client and upstream included, the same in every case), so the
// differences between cases are what each proxy costs.
func BenchmarkRawRoundTrip(b *testing.B) {
	up, err := echo.Listen("127.0.0.1:0", "echo")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	payload := string(make([]byte, 1024))
	req := "POST /echo HTTP/1.1\r\nHost: echo:8080\r\nUser-Agent: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n" + payload
	// The sidecar cases send everything to cluster echo-v1, as the lb
	// filter's configuration (benchFilter) does.
	sidecarYAML := func(filters string) string {
		return "admin: {disabled: true}\nlisteners:\n  - name: inbound\n    address: 127.0.0.1:0\n    cluster: echo-v1\n" +
			filters + "clusters:\n  - {name: echo-v1, endpoints: [\"" + up.Addr() + "\"]}\n"
	}
	for _, tc := range []struct {
		name    string
		filters func() string
	}{
		{"direct", nil},
		{"nethttp-reverseproxy", nil},
		{"sidecar-nofilter", func() string { return "" }},
		{"sidecar-testguest-bench", func() string {
			return "    filters: [{name: tg, wasm: " + testGuest(b) + ", configuration: bench}]\n"
		}},
		{"sidecar-lb", func() string {
			_, path, cfg := benchFilter(b)
			if path == "" {
				return "" // NICRT_BENCH_FILTER=none
			}
			return filterYAML(path, cfg) + "\n"
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := up.Addr()
			switch {
			case tc.name == "nethttp-reverseproxy":
				addr = netHTTPProxy(b, up.Addr())
			case tc.filters != nil:
				s := startSidecar(b, sidecarYAML(tc.filters()))
				addr = s.ListenerAddr("inbound").String()
			}
			rc := newRawClient(b, addr, req)
			rc.roundTrip(b)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if rc.roundTrip(b) != 200 {
					b.Fatal("status")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "process-cpu-µs/op")
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "process-allocs/op")
		})
	}
}

package live

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nicrt/nicrt/nicsim/model"
)

// TestRelay: the NIC in front of a service it knows nothing about (the
// relay): GETs, a large POST, keep-alive; a client of an upstream that is
// down is reset; and stopping lets a request in flight finish.
func TestRelay(t *testing.T) {
	up := listen(t)
	serve(t, up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(200 * time.Millisecond)
		}
		b, _ := io.ReadAll(r.Body) // all of it before answering (net/http's rule)
		w.Write(b)
		io.WriteString(w, "|"+r.URL.Path)
	}))
	n := newNIC(t, Options{Model: testModel(t, "passthrough-100us")})
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Relay(ctx, ln, up.Addr().String(), 5*time.Second) }()

	url := "http://" + ln.Addr().String()
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 5; i++ {
		code, b := get(t, c, url+"/get")
		if code != 200 || b != "|/get" {
			t.Fatalf("GET: %d %q", code, b)
		}
	}
	big := bytes.Repeat([]byte("x"), 100_000)
	resp, err := c.Post(url+"/post", "text/plain", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if b := body(resp); b != string(big)+"|/post" {
		t.Fatalf("POST echoed %d bytes: %.300q", len(b), b)
	}
	resp.Body.Close()
	c.CloseIdleConnections()

	// Stop while a slow request is in flight: it still completes.
	slow := make(chan string, 1)
	go func() {
		_, b := get(t, &http.Client{Timeout: 10 * time.Second}, url+"/slow")
		slow <- b
	}()
	time.Sleep(50 * time.Millisecond)
	stop()
	if b := <-slow; b != "|/slow" {
		t.Errorf("request in flight at stop: %q", b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp4", ln.Addr().String(), time.Second); err == nil {
		t.Error("the relay still accepts after it stopped")
	}
	n.Close()
	st := n.Stats()
	if st.Connections["relay"] != 2 || st.Open != 0 || st.Messages[1] != 7 || st.Messages[0] != 7 {
		t.Errorf("stats: connections %v, open %d, messages %v", st.Connections, st.Open, st.Messages)
	}
	var sum strings.Builder
	st.WriteSummary(&sum)
	for _, want := range []string{"relay 2", "per message", "underruns:", "hold (message+engine)"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

// TestRelayUpstreamDown: the client of an upstream that refuses the
// connection is reset, as the host would reset its SYN.
func TestRelayUpstreamDown(t *testing.T) {
	dead := listen(t)
	addr := dead.Addr().String()
	dead.Close()
	n := newNIC(t, Options{})
	via := startRelay(t, n, addr)
	// The reset may reach the client while its connect completes, or on
	// its first read.
	c, err := net.Dial("tcp4", via)
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		var b []byte
		b, err = io.ReadAll(c)
		if len(b) != 0 {
			t.Errorf("read %q from a relay whose upstream is down", b)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("got %v; want a reset", err)
	}
	waitQuiet(t, n)
	if st := n.Stats(); st.UpstreamErrors != 1 || st.Aborted != 1 {
		t.Errorf("upstream errors %d, aborted %d", st.UpstreamErrors, st.Aborted)
	}
}

// TestRelayHandshakeOrder: a relayed connection's handshake is sequenced
// as with a card in front of the host. The relay dials the upstream only
// after the client's SYN has crossed the NIC, and the client's request
// reaches the upstream no sooner than the SYN-ACK's and the request's own
// transit after that dial returned. A relay that dialed at accept would
// hide the modeled handshake behind its own connect time: NIC − zero-cost
// would then understate what the model adds. The model makes each crossing
// 1 ms (MAC/PHY latency, everything else zero); the upstream's connect is
// made 10 ms slow. Only lower bounds are checked: a slow machine cannot
// fail them.
func TestRelayHandshakeOrder(t *testing.T) {
	const crossing = time.Millisecond
	m, err := model.Parse([]byte(`
name: one-ms-crossings
clock_mhz: 10000
line_rate_gbps: 1600
mac_phy_latency_ns: 1000000
pcie: {dma_latency_ns: 0, gbps: 10000}
stages: {mac_rx: 0, parser: 0, flow_table: 0, reassembly: 0, dispatch: 0, deparser: 0, mac_tx: 0}
engine: {clock_mhz: 10000, cycles_per_instruction: 0, per_message_cycles: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	var reqAt atomic.Int64
	up := listen(t)
	serve(t, up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqAt.CompareAndSwap(0, time.Now().UnixNano())
		io.WriteString(w, "ok")
	}))
	var dialStart, dialEnd atomic.Int64
	var d net.Dialer
	n := newNIC(t, Options{Model: m, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialStart.Store(time.Now().UnixNano())
		time.Sleep(10 * time.Millisecond)
		c, err := d.DialContext(ctx, network, addr)
		dialEnd.Store(time.Now().UnixNano())
		return c, err
	}})
	via := startRelay(t, n, up.Addr().String())

	start := time.Now().UnixNano()
	resps := exchange(t, via, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
	if len(resps) != 1 || resps[0].StatusCode != 200 || body(resps[0]) != "ok" {
		t.Fatalf("through the relay: %v", resps)
	}
	if got := time.Duration(dialStart.Load() - start); got < crossing {
		t.Errorf("the relay dialed %v after the client connected; the SYN takes %v to cross the NIC", got, crossing)
	}
	if got := time.Duration(reqAt.Load() - dialEnd.Load()); got < 2*crossing {
		t.Errorf("the request reached the upstream %v after its connect returned; the SYN-ACK and the request take %v to cross", got, 2*crossing)
	}
	if st := n.Stats(); st.Modeled < 4*crossing {
		t.Errorf("modeled %v for one fetch, want at least 4 crossings (%v)", st.Modeled, 4*crossing)
	}
}

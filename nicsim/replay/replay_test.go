package replay

import (
	"bytes"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/internal/synth"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/pcapio"
	"github.com/nicrt/nicrt/nicsim/sim"
)

var update = flag.Bool("update", false, "regenerate nicsim/testdata/http.pcap from internal/synth.Sample")

const samplePath = "../testdata/http.pcap"

// TestSampleCapture keeps the committed capture identical to what its
// generator makes; run with -update to regenerate it.
func TestSampleCapture(t *testing.T) {
	fs, err := synth.Sample()
	if err != nil {
		t.Fatal(err)
	}
	const epoch = 1_767_225_600_000_000_000 // 2026-01-01T00:00:00Z, in ns
	recs := make([]pcapio.Record, len(fs))
	for i, f := range fs {
		recs[i] = pcapio.Record{Time: epoch + f.Time.Nanoseconds(), Data: f.Data, OrigLen: len(f.Data)}
	}
	var buf bytes.Buffer
	w, err := pcapio.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r.Time, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if *update {
		if err := os.WriteFile(samplePath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatalf("%v (run go test ./nicsim/replay -run TestSampleCapture -update)", err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("%s differs from its generator; run with -update", samplePath)
	}
	if len(recs) > 300 {
		t.Errorf("sample has %d frames; keep it small", len(recs))
	}
}

func loadSample(t testing.TB) []pcapio.Record {
	t.Helper()
	recs, err := pcapio.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func preset(t testing.TB, name string) model.Config {
	c, err := model.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func replayText(t *testing.T, recs []pcapio.Record, opt Options) ([]byte, string, *Report) {
	t.Helper()
	rep, out, err := Run(recs, opt)
	if err != nil {
		t.Fatal(err)
	}
	var pc bytes.Buffer
	w, _ := pcapio.NewWriter(&pc)
	for _, r := range out {
		w.Write(r.Time, r.Data)
	}
	w.Flush()
	var txt strings.Builder
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	return pc.Bytes(), txt.String(), rep
}

func TestDeterministicReplay(t *testing.T) {
	recs := loadSample(t)
	opt := Options{Model: model.Default(), ProbeFrames: 5000}
	p1, r1, _ := replayText(t, recs, opt)
	p2, r2, _ := replayText(t, loadSample(t), opt)
	if !bytes.Equal(p1, p2) {
		t.Error("two replays wrote different pcaps")
	}
	if r1 != r2 {
		t.Errorf("two replays reported differently:\n%s\n---\n%s", r1, r2)
	}
}

func TestReplayOutput(t *testing.T) {
	recs := loadSample(t)
	rep, out, err := Run(recs, Options{Model: model.Default(), ProbeFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host != netip.MustParseAddr("10.0.0.1") || !strings.Contains(rep.HostReason, "SYN") {
		t.Errorf("host %v (%s)", rep.Host, rep.HostReason)
	}
	st := &rep.Sim.Stats
	if len(out) != len(recs) || st.Forwarded != len(recs) || st.Flushed != 0 || len(st.Errors) != 0 {
		t.Fatalf("%d of %d frames out, flushed %d, errors %v", len(out), len(recs), st.Flushed, st.Errors)
	}
	if st.Flows != 3 || st.Engine.Messages != 10 {
		t.Errorf("%d flows, %d messages; the sample has 3 connections and 5 exchanges", st.Flows, st.Engine.Messages)
	}
	// Every frame leaves after it arrived; the output is in time order and
	// holds the same frames.
	in := map[string]int64{}
	for _, r := range recs {
		in[string(r.Data)] = r.Time // duplicate frames: the later time wins, fine for ≥
	}
	for i, r := range out {
		at, ok := in[string(r.Data)]
		if !ok {
			t.Fatalf("output frame %d is not an input frame", i)
		}
		if i > 0 && r.Time < out[i-1].Time {
			t.Errorf("output frame %d out of time order", i)
		}
		_ = at
	}
	for k, x := range rep.Inputs {
		if rep.Sim.Depart[k] <= x.Time {
			t.Errorf("frame %d departs at %v, not after its arrival %v", k, rep.Sim.Depart[k], x.Time)
		}
	}
	if len(rep.FirstExchange) != 3 {
		t.Errorf("first-exchange costs for %d connections, want 3", len(rep.FirstExchange))
	}
}

// TestPassthrough100us: the preset reproduces the seed's pass-through
// SmartNIC, 0.1 ms added to a curl exchange (4.0 → 4.1 ms).
func TestPassthrough100us(t *testing.T) {
	rep, _, err := Run(loadSample(t), Options{Model: preset(t, "passthrough-100us"), ProbeFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rep.FirstExchange {
		if math.Abs(x.Microseconds()-100) > 2 {
			t.Errorf("first exchange adds %v, want 100µs ± 2µs", x)
		}
	}
	def, _, err := Run(loadSample(t), Options{Model: model.Default(), ProbeFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range def.FirstExchange {
		if x > 10*model.Microsecond {
			t.Errorf("fpga-250mhz adds %v to an exchange; expected a few µs", x)
		}
	}
}

func TestSaturationProbe(t *testing.T) {
	rep, _, err := Run(loadSample(t), Options{Model: model.Default(), ProbeFrames: 10000})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Saturation
	if s == nil || s.Rate <= 0 || s.Bottleneck == "" {
		t.Fatalf("no saturation point: %+v", s)
	}
	for _, p := range s.Points {
		if p.Fraction <= 0.9 && (p.Growing || p.Drops > 0) {
			t.Errorf("at %.0f%% of saturation the queue grows (%v → %v) or drops (%d)", p.Fraction*100, p.Early, p.Late, p.Drops)
		}
		if p.Fraction >= 1.1 && !p.Growing && p.Drops == 0 {
			t.Errorf("at %.0f%% of saturation neither growth (%v → %v) nor drops", p.Fraction*100, p.Early, p.Late)
		}
		if math.Abs(p.Utilization-math.Min(p.Fraction, 1)) > 0.05 && p.Fraction < 1 {
			t.Errorf("bottleneck utilization %.3f at %.2f of saturation", p.Utilization, p.Fraction)
		}
	}
	// The engines get slower per message: with a 10 µs message cost, the
	// engine pool must become the bottleneck.
	c := model.Default()
	c.Engine.PerMessageCycles = 2500
	rep, _, err = Run(loadSample(t), Options{Model: c, ProbeFrames: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Saturation.Bottleneck != enginePool {
		t.Errorf("bottleneck %q, want the engine pool", rep.Saturation.Bottleneck)
	}
	// 10 messages per 57 frames, 4 engines of ~10 µs: ≈ 4/10µs × 57/10 frames/s.
	want := 4.0 / 10.2e-6 * float64(len(rep.Inputs)) / 10
	if got := rep.Saturation.Rate; math.Abs(got-want)/want > 0.05 {
		t.Errorf("saturation %.0f frames/s, expected about %.0f", got, want)
	}
}

func TestHostAndErrors(t *testing.T) {
	recs := loadSample(t)
	// Given host: the client side becomes the host.
	rep, _, err := Run(recs, Options{Model: model.Default(), Host: netip.MustParseAddr("10.0.0.2"), ProbeFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.HostReason != "given" || rep.Sim.Stats.TransitN[1] == 0 || rep.Sim.Stats.TransitN[0] == 0 {
		t.Errorf("given host: %s, transits %v", rep.HostReason, rep.Sim.Stats.TransitN)
	}
	// A corrupted frame is dropped by the parser and reported with its record.
	bad := append([]pcapio.Record{}, recs...)
	bad[5].Data = bytes.Clone(bad[5].Data)
	bad[5].Data[30] ^= 0xff
	rep, out, err := Run(bad, Options{Model: model.Default(), ProbeFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(recs)-1 || len(rep.Malformed) != 1 || !strings.Contains(rep.Malformed[0], "record 6") {
		t.Errorf("%d out, malformed %q", len(out), rep.Malformed)
	}
	// Out-of-order records are sorted and said so.
	swapped := append([]pcapio.Record{}, recs...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	rep, _, err = Run(swapped, Options{Model: model.Default(), ProbeFrames: -1})
	if err != nil || rep.Sorted != 1 {
		t.Errorf("sorted %d, err %v", rep.Sorted, err)
	}
	// No TCP at all: a clear error.
	if _, _, err := Run([]pcapio.Record{{Time: 1, Data: make([]byte, 60)}}, Options{Model: model.Default()}); err == nil || !strings.Contains(err.Error(), "no IPv4/TCP") {
		t.Errorf("no TCP: %v", err)
	}
	// Truncated records are reported as such.
	tr := append([]pcapio.Record{}, recs...)
	tr[2].OrigLen = len(tr[2].Data) + 10
	rep, _, _ = Run(tr, Options{Model: model.Default(), ProbeFrames: -1})
	if len(rep.Malformed) != 1 || !strings.Contains(rep.Malformed[0], "snap length") {
		t.Errorf("truncated: %q", rep.Malformed)
	}
	_ = sim.Forwarded
}

func TestReportMentionsEverything(t *testing.T) {
	_, txt, _ := replayText(t, loadSample(t), Options{Model: model.Default(), ProbeFrames: 3000})
	for _, want := range []string{"model fpga-250mhz", "host behind the NIC: 10.0.0.1", "per-stage time", "parser",
		"hold (message+engine)", "DMA NIC→host", "p99", "engines: 10 messages", "saturation point:", "utilization law", "growing", "stable"} {
		if !strings.Contains(txt, want) {
			t.Errorf("report lacks %q:\n%s", want, txt)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + txt)
	}
	_ = filepath.Join
}

func TestNonTCPDirection(t *testing.T) {
	recs := loadSample(t)
	// An ARP frame from the server's MAC and one from the client's.
	arp := func(src []byte) []byte {
		f := make([]byte, 60)
		copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:12], src)
		f[12], f[13] = 0x08, 0x06
		return f
	}
	srvMAC, cliMAC := recs[1].Data[6:12], recs[0].Data[6:12] // SYN-ACK from the server, SYN from a client
	last := recs[len(recs)-1].Time
	recs = append(recs, pcapio.Record{Time: last + 1000, Data: arp(srvMAC)}, pcapio.Record{Time: last + 2000, Data: arp(cliMAC)})
	in, _, _, _, err := Inputs(recs, netip.MustParseAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(in)
	if in[n-2].ToHost || !in[n-1].ToHost {
		t.Errorf("ARP from the host: toHost=%v; from a client: toHost=%v", in[n-2].ToHost, in[n-1].ToHost)
	}
}

// BenchmarkReplay measures a whole replay (parse, simulate, order the
// output) of 200 keep-alive connections, without the saturation probe.
func BenchmarkReplay(b *testing.B) {
	var conns [][]synth.Frame
	for k := 0; k < 200; k++ {
		fs, err := synth.Conn{
			Client: synth.Endpoint(byte(2+k%250), uint16(30000+k)), Server: synth.Endpoint(1, 8080),
			ClientISN: uint32(k) * 7919, ServerISN: 1, MSS: 1460, Start: model.Time(k) * 5 * model.Microsecond,
			RTT: 40 * model.Microsecond, Exchanges: []synth.Exchange{
				{Request: synth.Request("/a"), Response: synth.Response(6000), Think: 20 * model.Microsecond},
				{Request: synth.Request("/b"), Response: synth.ChunkedResponse(2000, 512)},
			},
		}.Build()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, fs)
	}
	fs := synth.Merge(conns...)
	recs := make([]pcapio.Record, len(fs))
	for i, f := range fs {
		recs[i] = pcapio.Record{Time: f.Time.Nanoseconds(), Data: f.Data, OrigLen: len(f.Data)}
	}
	opt := Options{Model: model.Default(), ProbeFrames: -1}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Run(recs, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// routeHeader stands in for a routing filter: it adds a header to every
// request, as lb/route filters set the cluster header.
type routeHeader struct{}

func (routeHeader) Process(m *engine.Message) (engine.Result, error) {
	if m.Head.Kind != httpframe.Request {
		return engine.Result{Instructions: 50}, nil
	}
	i := bytes.Index(m.Raw, []byte("\r\n")) + 2
	out := append(append(append([]byte{}, m.Raw[:i]...), "x-nicrt-cluster: v2\r\n"...), m.Raw[i:]...)
	return engine.Result{Instructions: 120, Rewrite: out}, nil
}

// TestReplayRewrite: with a filter that rewrites requests, the output
// capture is still valid TCP — every frame parses with correct checksums,
// each direction reassembles into HTTP messages — and carries the rewritten
// requests and the unchanged responses.
func TestReplayRewrite(t *testing.T) {
	recs := loadSample(t)
	opt := Options{Model: model.Default(), ProbeFrames: -1, Engines: func(n int) ([]engine.Engine, error) {
		es := make([]engine.Engine, n)
		for i := range es {
			es[i] = routeHeader{}
		}
		return es, nil
	}}
	rep, out, err := Run(recs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sim.Stats.Rewritten != 5 || rep.Sim.Stats.RewriteErrors != 0 {
		t.Fatalf("rewritten %d, errors %d: %v", rep.Sim.Stats.Rewritten, rep.Sim.Stats.RewriteErrors, rep.Sim.Stats.Errors)
	}
	p := frame.NewParser()
	type dirKey struct {
		k flow.Key
		d flow.Dir
	}
	streams := map[dirKey]*flow.Reassembler{}
	var keys []dirKey
	for i, r := range out {
		var pk frame.Packet
		if err := p.Parse(r.Data, &pk); err != nil {
			t.Fatalf("output frame %d: %v", i, err)
		}
		k, d := flow.KeyOf(pk.Src, pk.Dst, 0)
		re := streams[dirKey{k, d}]
		if re == nil {
			re = flow.NewReassembler(flow.DefaultLimits)
			streams[dirKey{k, d}] = re
			keys = append(keys, dirKey{k, d})
		}
		if _, err := re.Push(pk.Seq, pk.Flags, pk.Payload); err != nil {
			t.Fatalf("output frame %d: %v", i, err)
		}
	}
	requests, responses := 0, 0
	conns := map[flow.Key]*httpframe.Conn{}
	// Requests first (keys holds each flow's client direction first: the
	// SYN comes from the client), so responses to HEAD frame correctly.
	for _, dk := range keys {
		data := streams[dk].Data()
		c := conns[dk.k]
		isReq := c == nil
		if isReq {
			c = httpframe.NewConn(httpframe.DefaultLimits)
			conns[dk.k] = c
		}
		for len(data) > 0 {
			var m *httpframe.Message
			if isReq {
				m, err = c.NextRequest(data, true)
			} else {
				m, err = c.NextResponse(data, true)
			}
			if err != nil || m == nil {
				t.Fatalf("%v: framing the output stream: %v", dk.k, err)
			}
			v, has := m.Header("x-nicrt-cluster")
			if isReq {
				requests++
				if !has || string(v) != "v2" {
					t.Errorf("%v: request %q lacks the routing header", dk.k, m.Target)
				}
			} else {
				responses++
				if has {
					t.Errorf("%v: a response was rewritten", dk.k)
				}
			}
			data = data[m.Len:]
		}
	}
	if requests != 5 || responses != 5 {
		t.Errorf("%d requests and %d responses in the output, want 5 and 5", requests, responses)
	}
}

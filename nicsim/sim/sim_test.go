package sim

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/internal/synth"
	"github.com/nicrt/nicrt/nicsim/model"
)

// inputs parses synthetic frames as a NIC beside the server sees them:
// client frames come from the wire (ingress), server frames from the host.
func inputs(t testing.TB, fs []synth.Frame) []Input {
	t.Helper()
	p := frame.NewParser()
	in := make([]Input, len(fs))
	for i, f := range fs {
		in[i] = Input{Time: f.Time, Len: len(f.Data), ToHost: f.FromClient}
		if err := p.Parse(f.Data, &in[i].Packet); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	return in
}

func timing(t testing.TB, c model.Config) *model.Timing {
	t.Helper()
	tm, err := model.NewTiming(c)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func run(t testing.TB, in []Input, c model.Config, engines []engine.Engine) *Result {
	t.Helper()
	if engines == nil {
		engines = engine.NewPassThrough(c.Engine.Count)
	}
	r, err := Run(in, Options{Timing: timing(t, c), Engines: engines, KeepTransit: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func conn(n byte, start model.Time, ex ...synth.Exchange) []synth.Frame {
	c := synth.Conn{
		Client: synth.Endpoint(n, 40000+uint16(n)), Server: synth.Endpoint(1, 8080),
		ClientISN: 1000 * uint32(n), ServerISN: 7777, MSS: 1460, Start: start,
		RTT: 50 * model.Microsecond, Exchanges: ex,
	}
	fs, err := c.Build()
	if err != nil {
		panic(err)
	}
	return fs
}

// TestSingleFrameTransit checks the pipeline arithmetic on one frame that
// no message holds (a SYN), in each direction, against the model by hand.
func TestSingleFrameTransit(t *testing.T) {
	c := model.Default()
	tm := timing(t, c)
	fs := conn(2, 0, synth.Exchange{Request: synth.Request("/"), Response: synth.Response(10)})
	syn, synack := fs[0], fs[1]
	n := len(syn.Data) // 60 B captured: one 64 B beat
	beat := tm.Cycle()
	st := c.Stages
	// Ingress: receive (84 B at 100G), PHY, MAC, parser, flow, reassembly
	// (+ the frame's beat, store and forward), deparser (+ beat), DMA.
	wantIn := tm.Serialization(n+4) + tm.MACPHY +
		tm.Cycles(int64(st.MACRX+st.Parser+st.FlowTable+st.Reassembly)) + beat +
		tm.Cycles(int64(st.Deparser)) + beat + tm.PCIeTransfer(n) + tm.DMALatency
	// Egress: DMA, parser, flow, reassembly (+ beat), deparser, MAC TX, PHY.
	wantOut := tm.PCIeTransfer(len(synack.Data)) + tm.DMALatency +
		tm.Cycles(int64(st.Parser+st.FlowTable+st.Reassembly)) + beat +
		tm.Cycles(int64(st.Deparser+st.MACTX)) + tm.MACPHY
	r := run(t, inputs(t, fs[:2]), c, nil)
	if got := r.Depart[0] - syn.Time; got != wantIn {
		t.Errorf("ingress SYN transit %v, want %v", got, wantIn)
	}
	if got := r.Depart[1] - synack.Time; got != wantOut {
		t.Errorf("egress SYN-ACK transit %v, want %v", got, wantOut)
	}
	// With these defaults: 6.72+100+4*(8+12+10+16)+4+48+4+4.8+800 ns.
	if wantIn != 1151520*model.Picosecond {
		t.Errorf("default ingress transit %v, expected 1151.52ns", wantIn)
	}
}

// TestMessageHeldUntilComplete: the segments of a multi-segment request
// leave together, after the last one arrives and the engine ran.
func TestMessageHeldUntilComplete(t *testing.T) {
	c := model.Default()
	c.Engine.PerMessageCycles = 2500 // 10 µs per message
	req := append(synth.Request("/big"), bytes.Repeat([]byte("x"), 4000)...)
	req = bytes.Replace(req, []byte("Accept: */*\r\n"), []byte("Content-Length: 4000\r\n"), 1)
	fs := conn(3, 0, synth.Exchange{Request: req, Response: synth.Response(100), Think: 30 * model.Microsecond})
	in := inputs(t, fs)
	r := run(t, in, c, nil)
	var segs []int
	for i, f := range fs {
		if f.FromClient && len(in[i].Packet.Payload) > 0 {
			segs = append(segs, i)
		}
	}
	if len(segs) != 3 {
		t.Fatalf("request in %d segments, want 3", len(segs))
	}
	last := segs[len(segs)-1]
	for _, i := range segs {
		if r.Depart[i] < fs[last].Time+10*model.Microsecond {
			t.Errorf("segment %d left at %v, before the message was complete and filtered", i, r.Depart[i])
		}
		if r.Dropped[i] != Forwarded {
			t.Errorf("segment %d dropped: %v", i, r.Dropped[i])
		}
	}
	for k := 1; k < len(segs); k++ {
		if r.Depart[segs[k]] <= r.Depart[segs[k-1]] {
			t.Errorf("segments left out of order")
		}
	}
	if r.Stats.Engine.Messages != 2 {
		t.Errorf("%d messages reached the engines, want 2", r.Stats.Engine.Messages)
	}
	if r.Stats.Forwarded != len(fs) || r.Stats.Flushed != 0 || len(r.Stats.Errors) != 0 {
		t.Errorf("forwarded %d/%d flushed %d errors %v", r.Stats.Forwarded, len(fs), r.Stats.Flushed, r.Stats.Errors)
	}
}

// engineLoad makes n single-frame requests, each on its own flow, arriving
// at the given times (a burst tests queues without per-flow ordering).
func engineLoad(t testing.TB, times []model.Time) []Input {
	t.Helper()
	b := frame.NewBuilder()
	p := frame.NewParser()
	req := synth.Request("/")
	in := make([]Input, len(times))
	srv := synth.Endpoint(1, 80)
	for i, at := range times {
		cl := synth.Endpoint(2, 1024+uint16(i%60000))
		f, err := b.Append(nil, &frame.Segment{Src: cl, Dst: srv, Seq: 1, Ack: 1, Flags: frame.ACK | frame.PSH, Payload: req})
		if err != nil {
			t.Fatal(err)
		}
		in[i] = Input{Time: at, Len: len(f), ToHost: true, Epoch: uint32(i / 60000)}
		if err := p.Parse(f, &in[i].Packet); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

func serviceModel(engines, depth int, policy string, perMsg int64) model.Config {
	c := model.Default()
	c.Engine.Count, c.Engine.QueueDepth, c.Engine.QueuePolicy = engines, depth, policy
	c.Engine.PerMessageCycles = perMsg
	c.Stages.Dispatch = 0
	return c
}

// TestDD1: deterministic arrivals every T at a server of service S < T
// never wait; with S > T message k waits exactly k(S−T).
func TestDD1(t *testing.T) {
	const n = 50
	S := 2 * model.Microsecond // 500 cycles at 4 ns, plus 2 beats of dispatch
	for _, tc := range []struct {
		period model.Time
		slope  model.Time
	}{{3 * model.Microsecond, 0}, {1500 * model.Nanosecond, 0}} {
		times := make([]model.Time, n)
		for i := range times {
			times[i] = model.Time(i) * tc.period
		}
		c := serviceModel(1, n, model.PolicyDrop, 500)
		tm := timing(t, c)
		svc := S + tm.Cycles(tm.Beats(len(synth.Request("/"))))
		r := run(t, engineLoad(t, times), c, nil)
		wantWait := model.Time(0)
		for k := 0; k < n; k++ {
			if tc.period < svc {
				wantWait += model.Time(k) * (svc - tc.period)
			}
		}
		if r.Stats.Engine.Wait != wantWait {
			t.Errorf("period %v service %v: total engine wait %v, want %v", tc.period, svc, r.Stats.Engine.Wait, wantWait)
		}
		// Single-frame messages: the frame's hold queueing is its message's.
		if r.Stats.Stages[StageHold].Wait != wantWait {
			t.Errorf("hold-stage queueing %v, want %v", r.Stats.Stages[StageHold].Wait, wantWait)
		}
		if r.Stats.Engine.Service != model.Time(n)*svc {
			t.Errorf("service %v, want %v", r.Stats.Engine.Service, model.Time(n)*svc)
		}
	}
}

// TestMD1 checks the simulated mean queueing delay of one engine under
// Poisson arrivals (seeded, so the test is deterministic) against the
// Pollaczek–Khinchine closed form for M/D/1: W = ρS / (2(1−ρ)). Tolerance
// 8%: the sample mean of 40 000 correlated waits at ρ = 0.5–0.8 is within a
// few percent of its expectation.
func TestMD1(t *testing.T) {
	if testing.Short() {
		t.Skip("long queueing run")
	}
	for _, rho := range []float64{0.5, 0.8} {
		c := serviceModel(1, 1<<20, model.PolicyDrop, 2500) // 10 µs + dispatch beats
		tm := timing(t, c)
		S := tm.EngineTime(0) + tm.Cycles(tm.Beats(len(synth.Request("/"))))
		mean := float64(S) / rho
		rng := rand.New(rand.NewPCG(42, uint64(rho*100)))
		const n = 40000
		times := make([]model.Time, n)
		var at float64
		for i := range times {
			at += rng.ExpFloat64() * mean
			times[i] = model.Time(at)
		}
		r := run(t, engineLoad(t, times), c, nil)
		got := float64(r.Stats.Engine.Wait) / float64(r.Stats.Engine.Messages)
		want := rho * float64(S) / (2 * (1 - rho))
		if math.Abs(got-want)/want > 0.08 {
			t.Errorf("ρ=%.1f: mean wait %.3fµs, M/D/1 predicts %.3fµs", rho, got/1e6, want/1e6)
		} else {
			t.Logf("ρ=%.1f: mean wait %.3fµs, M/D/1 predicts %.3fµs", rho, got/1e6, want/1e6)
		}
	}
}

func burst(n int) []model.Time { return make([]model.Time, n) }

func TestQueueFullDrop(t *testing.T) {
	c := serviceModel(1, 2, model.PolicyDrop, 250)
	r := run(t, engineLoad(t, burst(10)), c, nil)
	// One in service, two waiting: seven dropped.
	if r.Stats.Dropped[QueueFull] != 7 || r.Stats.Engine.QueueFull != 7 || r.Stats.Forwarded != 3 {
		t.Errorf("dropped %d (engine says %d), forwarded %d; want 7 and 3",
			r.Stats.Dropped[QueueFull], r.Stats.Engine.QueueFull, r.Stats.Forwarded)
	}
	if r.Stats.Engine.MaxDepth != 2 {
		t.Errorf("max depth %d, want 2", r.Stats.Engine.MaxDepth)
	}
	// Two engines take twice as many.
	c.Engine.Count = 2
	r = run(t, engineLoad(t, burst(10)), c, nil)
	if r.Stats.Forwarded != 6 || r.Stats.Engine.PerEngine[0] != 3 || r.Stats.Engine.PerEngine[1] != 3 {
		t.Errorf("2 engines: forwarded %d, per engine %v", r.Stats.Forwarded, r.Stats.Engine.PerEngine)
	}
}

func TestBackpressure(t *testing.T) {
	c := serviceModel(1, 2, model.PolicyBackpressure, 250)
	tm := timing(t, c)
	svc := tm.EngineTime(0) + tm.Cycles(tm.Beats(len(synth.Request("/"))))
	r := run(t, engineLoad(t, burst(10)), c, nil)
	if r.Stats.Forwarded != 10 || r.Stats.DroppedTotal() != 0 {
		t.Fatalf("forwarded %d dropped %d, want all 10 forwarded", r.Stats.Forwarded, r.Stats.DroppedTotal())
	}
	if r.Stats.Engine.Blocked != 7 {
		t.Errorf("blocked %d messages, want 7", r.Stats.Engine.Blocked)
	}
	// The engine never idles: the 10th message is done after 10 services.
	if got := r.Stats.Engine.Busy[0]; got != 10*svc {
		t.Errorf("engine busy %v, want %v", got, 10*svc)
	}
	for i := 1; i < 10; i++ {
		if d := r.Depart[i] - r.Depart[i-1]; d != svc {
			t.Errorf("message %d left %v after the previous, want one service time %v", i, d, svc)
		}
	}
}

type countingEngine struct {
	instr   uint64
	verdict engine.Verdict
	err     error
	seen    []string
}

func (e *countingEngine) Process(m *engine.Message) (engine.Result, error) {
	e.seen = append(e.seen, string(m.Head.Method)+string(m.Head.Reason))
	return engine.Result{Instructions: e.instr, Verdict: e.verdict}, e.err
}

func TestEngineVerdictsAndInstructions(t *testing.T) {
	fs := conn(4, 0, synth.Exchange{Request: synth.Request("/a"), Response: synth.Response(10)})
	in := inputs(t, fs)
	c := model.Default()
	c.Engine.Count = 1
	tm := timing(t, c)

	e := &countingEngine{instr: 1000}
	r := run(t, in, c, []engine.Engine{e})
	if len(e.seen) != 2 || e.seen[0] != "GET" || e.seen[1] != "OK" {
		t.Errorf("engine saw %q", e.seen)
	}
	if r.Stats.Engine.Instructions != 2000 {
		t.Errorf("instructions %d", r.Stats.Engine.Instructions)
	}
	base := run(t, in, c, nil)
	// The request frame waits 1000 instructions × 1 cycle × 4 ns longer.
	for i, f := range fs {
		if f.FromClient && len(in[i].Packet.Payload) > 0 {
			if d := r.Depart[i] - base.Depart[i]; d != tm.EngineTime(1000) {
				t.Errorf("request delayed %v by 1000 instructions, want %v", d, tm.EngineTime(1000))
			}
		}
	}

	for _, tc := range []struct {
		e    *countingEngine
		want Drop
	}{{&countingEngine{verdict: engine.Drop}, FilterDrop}, {&countingEngine{err: errors.New("trap")}, EngineError}} {
		r := run(t, in, c, []engine.Engine{tc.e})
		if r.Stats.Dropped[tc.want] != 2 {
			t.Errorf("%v: %d frames dropped, want the request's and the response's", tc.want, r.Stats.Dropped[tc.want])
		}
	}
}

func TestMalformedAndNonTCP(t *testing.T) {
	fs := conn(5, 0, synth.Exchange{Request: synth.Request("/"), Response: synth.Response(10)})
	in := inputs(t, fs)
	in[0].Err = errors.New("bad checksum")
	in[1].Packet.Kind = frame.KindOther
	r := run(t, in, model.Default(), nil)
	if r.Dropped[0] != Malformed || r.Stats.Dropped[Malformed] != 1 {
		t.Errorf("malformed frame not dropped: %v", r.Dropped[0])
	}
	if r.Dropped[1] != Forwarded || r.Stats.NonTCP != 1 {
		t.Errorf("non-TCP frame: %v, NonTCP %d", r.Dropped[1], r.Stats.NonTCP)
	}
}

func TestFramingErrorBypasses(t *testing.T) {
	fs := conn(6, 0, synth.Exchange{Request: []byte("NOT HTTP AT ALL\r\n\r\n"), Response: []byte("nope")})
	r := run(t, inputs(t, fs), model.Default(), nil)
	if r.Stats.Forwarded != len(fs) || r.Stats.StreamErrors != 2 || len(r.Stats.Errors) != 2 {
		t.Errorf("forwarded %d/%d, stream errors %d %v", r.Stats.Forwarded, len(fs), r.Stats.StreamErrors, r.Stats.Errors)
	}
}

func TestIncompleteMessageFlushed(t *testing.T) {
	fs := conn(7, 0, synth.Exchange{Request: synth.Request("/"), Response: synth.Response(3000)})
	// Cut the capture inside the response.
	var cut []synth.Frame
	for _, f := range fs {
		cut = append(cut, f)
		if !f.FromClient && len(f.Data) > 1000 {
			break
		}
	}
	r := run(t, inputs(t, cut), model.Default(), nil)
	if r.Stats.Flushed != 1 || r.Stats.Forwarded != len(cut) {
		t.Errorf("flushed %d forwarded %d/%d", r.Stats.Flushed, r.Stats.Forwarded, len(cut))
	}
}

func mixed(t testing.TB, conns int) []Input {
	var all [][]synth.Frame
	for k := 0; k < conns; k++ {
		all = append(all, conn(byte(10+k), model.Time(k)*7*model.Microsecond,
			synth.Exchange{Request: synth.Request("/a"), Response: synth.Response(5000), Think: 20 * model.Microsecond},
			synth.Exchange{Request: synth.Request("/b"), Response: synth.ChunkedResponse(3000, 700)}))
	}
	return inputs(t, synth.Merge(all...))
}

func TestDeterministic(t *testing.T) {
	in := mixed(t, 8)
	c := model.Default()
	c.Engine.Count = 2
	a := run(t, in, c, nil)
	b := run(t, in, c, nil)
	a.Stats.Wall, b.Stats.Wall = 0, 0
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs on the same input differ")
	}
	if a.Stats.Forwarded != len(in) || a.Stats.Engine.Messages != 32 {
		t.Errorf("forwarded %d/%d, messages %d", a.Stats.Forwarded, len(in), a.Stats.Engine.Messages)
	}
}

func TestInputOrder(t *testing.T) {
	in := mixed(t, 1)
	in[0].Time, in[1].Time = in[1].Time, in[0].Time+1
	if _, err := Run(in, Options{Timing: timing(t, model.Default()), Engines: engine.NewPassThrough(4)}); err == nil {
		t.Error("out-of-order input accepted")
	}
	if _, err := Run(in, Options{Timing: timing(t, model.Default()), Engines: engine.NewPassThrough(3)}); err == nil {
		t.Error("wrong engine count accepted")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPassThrough measures simulated frames per second for
// pass-through traffic (HTTP exchanges over many connections): per second
// of wall time, and per second of this process's CPU time, which is the
// per-core figure on a shared, noisy machine.
func BenchmarkPassThrough(b *testing.B) {
	in := mixed(b, 200)
	tm := timing(b, model.Default())
	eng := engine.NewPassThrough(tm.Config.Engine.Count)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Run(in, Options{Timing: tm, Engines: eng}); err != nil {
			b.Fatal(err)
		}
	}
	frames := float64(len(in)) * float64(b.N)
	b.ReportMetric(frames/b.Elapsed().Seconds(), "frames/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(frames/cpu.Seconds(), "frames/cpu-s")
	}
}

// TestStreaming drives the simulation frame by frame, as a live NIC does,
// and checks it gives the batch run's departures with bounded memory.
func TestStreaming(t *testing.T) {
	in := mixed(t, 30)
	c := model.Default()
	batch := run(t, in, c, nil)

	got := make([]model.Time, len(in))
	drops := 0
	owner := map[int]int{} // live id → input index
	s, err := New(Options{Timing: timing(t, c), Engines: engine.NewPassThrough(c.Engine.Count),
		OnDepart: func(id int, at model.Time, drop Drop) {
			k, ok := owner[id]
			if !ok {
				t.Fatalf("departure of unknown id %d", id)
			}
			delete(owner, id)
			got[k] = at
			if drop != Forwarded {
				drops++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for k, x := range in {
		s.Advance(x.Time)
		id, err := s.Offer(x)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := owner[id]; dup {
			t.Fatalf("id %d reused while its frame is in flight", id)
		}
		owner[id] = k
	}
	if _, err := s.Offer(Input{Time: 0}); err == nil {
		t.Error("an offer in the past was accepted")
	}
	// What is still in flight is scheduled; a live NIC sleeps until then.
	if next, ok := s.NextEvent(); !ok || next < in[len(in)-1].Time {
		t.Errorf("NextEvent = %v, %v with %d frames in flight", next, ok, len(owner))
	}
	if st := s.Stats(); st.Frames != len(in) || st.Forwarded != len(in)-len(owner) {
		t.Errorf("snapshot: %d frames, %d forwarded; want %d, %d", st.Frames, st.Forwarded, len(in), len(in)-len(owner))
	}
	res := s.Finish()
	if _, ok := s.NextEvent(); ok {
		t.Error("NextEvent after Finish")
	}
	if len(owner) != 0 || drops != 0 {
		t.Fatalf("%d frames never left, %d dropped", len(owner), drops)
	}
	for k := range in {
		if got[k] != batch.Depart[k] {
			t.Errorf("frame %d: streaming departs at %v, batch at %v", k, got[k], batch.Depart[k])
		}
	}
	if len(res.Depart) >= len(in)/2 {
		t.Errorf("streaming kept %d frame slots for %d frames; ids should be reused", len(res.Depart), len(in))
	}
	if res.Stats.Forwarded != len(in) || res.Stats.Frames != len(in) {
		t.Errorf("stats: %d forwarded of %d frames", res.Stats.Forwarded, res.Stats.Frames)
	}
}

// afterEngine charges instr to each message and after to the work that
// follows it (a stream's end-of-stream callbacks).
type afterEngine struct{ instr, after uint64 }

func (e afterEngine) Process(*engine.Message) (engine.Result, error) {
	return engine.Result{Instructions: e.instr, After: e.after}, nil
}

// TestEngineAfterWork: end-of-stream work keeps the engine busy after its
// message has left: the message itself departs as if there were none, the
// one queued behind it waits that much longer, and the engine's busy time
// and instruction count include it.
func TestEngineAfterWork(t *testing.T) {
	times := []model.Time{0, 0} // two requests at once on one engine
	c := serviceModel(1, 8, model.PolicyDrop, 0)
	tm := timing(t, c)
	plain := run(t, engineLoad(t, times), c, []engine.Engine{afterEngine{instr: 1000}})
	tail := run(t, engineLoad(t, times), c, []engine.Engine{afterEngine{instr: 1000, after: 250}})
	extra := tm.InstructionTime(250)
	if extra != 1*model.Microsecond {
		t.Fatalf("250 instructions at the default model take %v, want 1µs", extra)
	}
	if tail.Depart[0] != plain.Depart[0] {
		t.Errorf("the first message left at %v with end-of-stream work, %v without: it must not wait for its own", tail.Depart[0], plain.Depart[0])
	}
	if got := tail.Depart[1] - plain.Depart[1]; got != extra {
		t.Errorf("the second message left %v later, want %v (the first's end-of-stream work)", got, extra)
	}
	if got := tail.Stats.Engine.Wait - plain.Stats.Engine.Wait; got != extra {
		t.Errorf("engine wait grew by %v, want %v", got, extra)
	}
	if tail.Stats.Engine.Instructions != 2*1250 || tail.Stats.Engine.Busy[0]-plain.Stats.Engine.Busy[0] != 2*extra {
		t.Errorf("instructions %d (want 2500), busy +%v (want %v)", tail.Stats.Engine.Instructions, tail.Stats.Engine.Busy[0]-plain.Stats.Engine.Busy[0], 2*extra)
	}
}

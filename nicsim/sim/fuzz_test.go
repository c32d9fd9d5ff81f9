package sim

import (
	"testing"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/model"
)

// FuzzSim feeds the pipeline arbitrary TCP segments — any sequence numbers,
// flags and payload bytes, over two connections in both directions — under
// both queue policies, with filters that rewrite requests or not: never a
// panic, every frame leaves or is dropped
// exactly once, and none leaves before it arrived.
func FuzzSim(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x12GET / HTTP/1.1\r\n\r\n\x03\x00\x00\x00\x00\x00\x12HTTP/1.1 200 OK\r\n\r\n"), true, true)
	f.Add([]byte("\x02\x10\x00\x00\x00\x01\x18POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab\x02\x10\x00\x00\x00\x40\x01c"), false, true)
	f.Add([]byte("\x01\xff\xff\xff\xff\x01\x00\x05hello\x00\x00\x00\x00\x00\x04\x00"), true, false)
	f.Fuzz(fuzzBody)
}

var (
	fuzzTiming, _   = model.NewTiming(model.Default())
	fuzzTimingBP, _ = model.NewTiming(func() model.Config {
		c := model.Default()
		c.Engine.Count, c.Engine.QueueDepth, c.Engine.PerMessageCycles = 1, 1, 1000
		c.Engine.QueuePolicy = model.PolicyBackpressure
		return c
	}())
)

// fuzzBody is FuzzSim's property check on one input.
func fuzzBody(t *testing.T, data []byte, backpressure, rewrite bool) {
	tm, tmBP := fuzzTiming, fuzzTimingBP
	a := frame.Endpoint{IP: [4]byte{10, 0, 0, 1}, Port: 80}
	b1 := frame.Endpoint{IP: [4]byte{10, 0, 0, 2}, Port: 5000}
	b2 := frame.Endpoint{IP: [4]byte{10, 0, 0, 3}, Port: 5001}
	// Each segment: who (1 byte), seq (4), flags (1), length (1), payload.
	var in []Input
	var at model.Time
	for len(data) >= 7 && len(in) < 64 {
		who, seq := data[0], uint32(data[1])<<24|uint32(data[2])<<16|uint32(data[3])<<8|uint32(data[4])
		flags := frame.Flags(data[5]) & (frame.SYN | frame.ACK | frame.FIN | frame.RST | frame.PSH)
		n := min(int(data[6]), len(data)-7)
		payload := data[7 : 7+n]
		data = data[7+n:]
		x := Input{Time: at, Len: 54 + n}
		x.Packet = frame.Packet{Kind: frame.KindTCP, Seq: seq, Flags: flags, Payload: payload}
		peer := b1
		if who&4 != 0 {
			peer = b2
		}
		if who&1 == 0 {
			x.Packet.Src, x.Packet.Dst, x.ToHost = peer, a, true
		} else {
			x.Packet.Src, x.Packet.Dst = a, peer
		}
		if who&8 != 0 {
			x.Packet.Kind = frame.KindOther
		}
		in = append(in, x)
		at += model.Time(who>>4) * 100 * model.Nanosecond
	}
	timing := tm
	if backpressure {
		timing = tmBP
	}
	engines := engine.NewPassThrough(timing.Config.Engine.Count)
	if rewrite {
		for k := range engines {
			engines[k] = addHeader{"x-fuzz: 1\r\n"}
		}
	}
	res, err := Run(in, Options{Timing: timing, Engines: engines, KeepMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	st := &res.Stats
	if st.Forwarded+st.DroppedTotal() != len(in) {
		t.Fatalf("%d forwarded + %d dropped != %d frames", st.Forwarded, st.DroppedTotal(), len(in))
	}
	for i := range in {
		if res.Dropped[i] == Forwarded && res.Depart[i] < in[i].Time {
			t.Fatalf("frame %d departs at %v before arriving at %v", i, res.Depart[i], in[i].Time)
		}
	}
}

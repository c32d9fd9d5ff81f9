package flow

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/nicsim/frame"
)

func stream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

type seg struct {
	off, n int
}

func pushAll(t *testing.T, r *Reassembler, isn uint32, data []byte, segs []seg) {
	t.Helper()
	for _, s := range segs {
		if _, err := r.Push(isn+1+uint32(s.off), frame.ACK, data[s.off:s.off+s.n]); err != nil {
			t.Fatalf("push %+v: %v", s, err)
		}
	}
}

func TestReassembly(t *testing.T) {
	data := stream(1000)
	for _, tc := range []struct {
		name string
		isn  uint32
		segs []seg
		dups int
	}{
		{"in order", 7, []seg{{0, 300}, {300, 300}, {600, 400}}, 0},
		{"reversed", 7, []seg{{600, 400}, {300, 300}, {0, 300}}, 0},
		{"duplicates", 7, []seg{{0, 300}, {0, 300}, {600, 400}, {600, 400}, {300, 300}, {300, 300}}, 3},
		{"overlaps", 7, []seg{{0, 200}, {100, 300}, {350, 400}, {700, 300}, {500, 100}}, 1},
		{"overlapping held", 7, []seg{{500, 100}, {450, 300}, {750, 250}, {0, 460}}, 0},
		{"seq wraps", 0xffffff00, []seg{{0, 500}, {500, 500}}, 0},
		{"wrap out of order", 0xfffffe00, []seg{{700, 300}, {0, 700}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReassembler(DefaultLimits)
			if _, err := r.Push(tc.isn, frame.SYN, nil); err != nil {
				t.Fatal(err)
			}
			pushAll(t, r, tc.isn, data, tc.segs)
			if !bytes.Equal(r.Data(), data) {
				t.Fatalf("got %d bytes %q..., want the stream", len(r.Data()), r.Data()[:min(20, len(r.Data()))])
			}
			if d, _ := r.Stats(); d != tc.dups {
				t.Errorf("%d duplicates counted, want %d", d, tc.dups)
			}
		})
	}
}

func TestReassemblyShuffled(t *testing.T) {
	data := stream(20000)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		var segs []seg
		for off := 0; off < len(data); {
			n := 1 + rng.IntN(1460)
			n = min(n, len(data)-off)
			segs = append(segs, seg{off, n})
			if rng.IntN(4) == 0 { // retransmission, possibly repacketized
				a := rng.IntN(off + 1)
				segs = append(segs, seg{a, min(off+n, len(data)) - a})
			}
			off += n
		}
		rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
		r := NewReassembler(DefaultLimits)
		isn := rng.Uint32()
		if _, err := r.Push(isn, frame.SYN, nil); err != nil {
			t.Fatal(err)
		}
		// Consume as we go, as the HTTP framer does.
		var got []byte
		for _, s := range segs {
			if _, err := r.Push(isn+1+uint32(s.off), frame.ACK, data[s.off:s.off+s.n]); err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Data()...)
			r.Consume(len(r.Data()))
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("trial %d: reassembled %d bytes, mismatch", trial, len(got))
		}
	}
}

func TestReassemblyFINAndMidstream(t *testing.T) {
	r := NewReassembler(DefaultLimits)
	// No SYN seen: the first segment defines offset 0.
	if _, err := r.Push(5000, frame.ACK, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Push(5006, frame.FIN|frame.ACK, []byte("ghi")); err != nil {
		t.Fatal(err)
	}
	if r.Finished() {
		t.Fatal("finished with a gap before the FIN")
	}
	if _, err := r.Push(5003, frame.ACK, []byte("def")); err != nil {
		t.Fatal(err)
	}
	if !r.Finished() || string(r.Data()) != "abcdefghi" {
		t.Fatalf("finished=%v data=%q", r.Finished(), r.Data())
	}
	if _, err := r.Push(5009, frame.ACK, []byte("x")); err == nil || !strings.Contains(err.Error(), "past the FIN") {
		t.Errorf("data after FIN: %v", err)
	}
}

func TestReassemblyLimits(t *testing.T) {
	lim := Limits{MaxBuffered: 100, MaxSegments: 2, MaxGap: 1000}
	r := NewReassembler(lim)
	r.Push(0, frame.SYN, nil)
	if _, err := r.Push(1, frame.ACK, make([]byte, 101)); !errors.Is(err, ErrBufferFull) {
		t.Errorf("oversized in-order segment: %v", err)
	}
	r.Push(11, frame.ACK, []byte("x"))
	r.Push(21, frame.ACK, []byte("x"))
	if _, err := r.Push(31, frame.ACK, []byte("x")); !errors.Is(err, ErrBufferFull) || !strings.Contains(err.Error(), "segments") {
		t.Errorf("third held segment: %v", err)
	}
	if _, err := r.Push(5000, frame.ACK, []byte("x")); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("far segment: %v", err)
	}
	// Consuming frees room.
	r2 := NewReassembler(lim)
	r2.Push(0, frame.SYN, nil)
	for i := 0; i < 5; i++ {
		if _, err := r2.Push(1+uint32(i*60), frame.ACK, make([]byte, 60)); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		r2.Consume(60)
	}
}

func TestTable(t *testing.T) {
	a := frame.Endpoint{IP: [4]byte{10, 0, 0, 2}, Port: 80}
	b := frame.Endpoint{IP: [4]byte{10, 0, 0, 1}, Port: 5555}
	k1, d1 := KeyOf(a, b, 0)
	k2, d2 := KeyOf(b, a, 0)
	if k1 != k2 || d1 == d2 {
		t.Fatalf("both directions must share a key: %v/%v %v/%v", k1, d1, k2, d2)
	}
	if k1.String() != "10.0.0.1:5555<->10.0.0.2:80" {
		t.Errorf("key string %q", k1)
	}
	tb := NewTable[int](1)
	v, err := tb.Insert(k1)
	if err != nil || v == nil {
		t.Fatal(err)
	}
	if again, _ := tb.Insert(k1); again != v || tb.Get(k1) != v {
		t.Error("insert of an existing key must return it")
	}
	k3, _ := KeyOf(a, b, 1)
	if _, err := tb.Insert(k3); !errors.Is(err, ErrTableFull) {
		t.Errorf("over capacity: %v", err)
	}
	tb.Delete(k1)
	if tb.Len() != 0 || tb.Get(k1) != nil {
		t.Error("delete")
	}
}

// FuzzReassembly pushes segments cut from a known stream at offsets and
// lengths the fuzzer picks, with arbitrary flags: never a panic, and what is
// delivered is always a prefix of the stream.
func FuzzReassembly(f *testing.F) {
	f.Add(uint32(1), []byte{0, 10, 0, 10, 10, 0, 5, 5, 0})
	f.Add(uint32(0xfffffff0), []byte{40, 10, 0, 0, 40, 0, 30, 30, 1})
	f.Add(uint32(7), []byte{255, 255, 4, 0, 1, 2, 200, 100, 8})
	data := stream(4096)
	f.Fuzz(func(t *testing.T, isn uint32, ops []byte) {
		r := NewReassembler(Limits{MaxBuffered: 2048, MaxSegments: 8, MaxGap: 4096})
		r.Push(isn, frame.SYN, nil)
		for len(ops) >= 3 {
			off := int(ops[0]) * 16
			n := int(ops[1])
			flags := frame.Flags(ops[2]) & (frame.ACK | frame.FIN | frame.RST | frame.SYN)
			ops = ops[3:]
			off, n = min(off, len(data)), min(n, len(data)-min(off, len(data)))
			r.Push(isn+1+uint32(off), flags, data[off:off+n])
			// Invariant: Data is the stream's bytes at [Base, End).
			if r.End() > int64(len(data)) || !bytes.Equal(r.Data(), data[r.Base():r.End()]) {
				t.Fatalf("delivered bytes [%d,%d) differ from the stream", r.Base(), r.End())
			}
			r.Consume(len(r.Data()) / 2)
		}
	})
}

func TestSYNInStream(t *testing.T) {
	r := NewReassembler(DefaultLimits)
	r.Push(100, frame.SYN, nil)
	if _, err := r.Push(100, frame.SYN, nil); err != nil {
		t.Errorf("retransmitted SYN: %v", err)
	}
	if _, err := r.Push(500, frame.SYN, []byte("x")); err == nil {
		t.Error("a SYN with another ISN must be an error")
	}
}

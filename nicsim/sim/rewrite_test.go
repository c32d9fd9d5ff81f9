package sim

import (
	"bytes"
	"testing"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/internal/synth"
	"github.com/nicrt/nicrt/nicsim/model"
)

// addHeader is a filter stand-in that adds a routing header to requests.
type addHeader struct{ header string }

func (a addHeader) Process(m *engine.Message) (engine.Result, error) {
	if m.Head.Kind != httpframe.Request {
		return engine.Result{Instructions: 10}, nil
	}
	i := bytes.Index(m.Raw, []byte("\r\n")) + 2
	out := append(append(append([]byte{}, m.Raw[:i]...), a.header...), m.Raw[i:]...)
	return engine.Result{Instructions: 10, Rewrite: out}, nil
}

// leaving rebuilds, per direction, the byte stream that leaves the NIC from
// the run's departures and patches, checking sequence numbers are contiguous.
func leaving(t *testing.T, in []Input, r *Result, fromClient bool) (stream []byte, lastAck uint32) {
	t.Helper()
	type seg struct {
		seq, ack uint32
		p        []byte
	}
	var segs []seg
	for i := range in {
		if r.Dropped[i] != Forwarded || in[i].Packet.Kind != frame.KindTCP || in[i].ToHost != fromClient {
			continue
		}
		pk := in[i].Packet
		pt := r.Patches[i]
		switch {
		case pt != nil && pt.Replaced:
			for _, sg := range pt.Segments {
				segs = append(segs, seg{sg.Seq, sg.Ack, sg.Payload})
			}
		case pt != nil:
			segs = append(segs, seg{pk.Seq + pt.SeqDelta, pk.Ack + pt.AckDelta, pk.Payload})
		default:
			segs = append(segs, seg{pk.Seq, pk.Ack, pk.Payload})
		}
	}
	var next uint32
	started := false
	for _, sg := range segs {
		if len(sg.p) == 0 {
			lastAck = sg.ack
			continue
		}
		if started && sg.seq != next {
			t.Fatalf("segment at seq %d, expected %d", sg.seq, next)
		}
		started, next = true, sg.seq+uint32(len(sg.p))
		stream = append(stream, sg.p...)
		lastAck = sg.ack
	}
	return stream, lastAck
}

func TestRewriteResegments(t *testing.T) {
	hdr := "x-nicrt-cluster: reviews-v2\r\n"
	// A 3000-byte POST (3 segments at MSS 1460) and a GET on one connection.
	post := append([]byte("POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n"), bytes.Repeat([]byte("p"), 3000)...)
	fs := conn(8, 0,
		synth.Exchange{Request: post, Response: synth.Response(100), Think: 5 * model.Microsecond},
		synth.Exchange{Request: synth.Request("/g"), Response: synth.Response(50)})
	in := inputs(t, fs)
	c := model.Default()
	r := run(t, in, c, []engine.Engine{addHeader{hdr}, addHeader{hdr}, addHeader{hdr}, addHeader{hdr}})
	if r.Stats.Rewritten != 2 || r.Stats.RewriteErrors != 0 {
		t.Fatalf("rewritten %d, errors %d %v", r.Stats.Rewritten, r.Stats.RewriteErrors, r.Stats.Errors)
	}
	up, _ := leaving(t, in, r, true)
	wantUp := append(bytes.Replace(post, []byte("\r\n"), []byte("\r\n"+hdr), 1), bytes.Replace(synth.Request("/g"), []byte("\r\n"), []byte("\r\n"+hdr), 1)...)
	if !bytes.Equal(up, wantUp) {
		t.Errorf("client→server stream leaving the NIC:\n%q\nwant\n%q", up, wantUp)
	}
	// The server's stream is unchanged, and its acknowledgments cover the
	// longer requests: its last ACK is the original plus both insertions.
	down, lastAck := leaving(t, in, r, false)
	wantDown := append(synth.Response(100), synth.Response(50)...)
	if !bytes.Equal(down, wantDown) {
		t.Errorf("server→client stream changed")
	}
	var origLast uint32
	for i := range in {
		if !in[i].ToHost {
			origLast = in[i].Packet.Ack
		}
	}
	if lastAck != origLast+2*uint32(len(hdr)) {
		t.Errorf("server's last ACK %d, want %d + %d", lastAck, origLast, 2*len(hdr))
	}
	// The POST's three frames carry three segments (the added bytes fit).
	if r.Stats.Dropped[Merged] != 0 || r.Stats.Forwarded != len(in) {
		t.Errorf("merged %d, forwarded %d/%d", r.Stats.Dropped[Merged], r.Stats.Forwarded, len(in))
	}
}

// shrink is a filter stand-in that replaces every request with a short one.
type shrink struct{}

func (shrink) Process(m *engine.Message) (engine.Result, error) {
	if m.Head.Kind != httpframe.Request {
		return engine.Result{}, nil
	}
	return engine.Result{Rewrite: []byte("GET /s HTTP/1.1\r\n\r\n")}, nil
}

func TestRewriteShrinksAndMerges(t *testing.T) {
	post := append([]byte("POST /r HTTP/1.1\r\nContent-Length: 3000\r\n\r\n"), bytes.Repeat([]byte("p"), 3000)...)
	fs := conn(9, 0, synth.Exchange{Request: post, Response: synth.Response(10)})
	in := inputs(t, fs)
	r := run(t, in, model.Default(), []engine.Engine{shrink{}, shrink{}, shrink{}, shrink{}})
	up, _ := leaving(t, in, r, true)
	if string(up) != "GET /s HTTP/1.1\r\n\r\n" {
		t.Errorf("stream %q", up)
	}
	if r.Stats.Dropped[Merged] != 2 {
		t.Errorf("%d frames merged, want the POST's last two", r.Stats.Dropped[Merged])
	}
}

func TestRewriteRefusedWhenStraddling(t *testing.T) {
	// Two pipelined requests in one segment: the segment straddles both
	// messages, so their rewrites are refused and the bytes go as they are.
	two := append(synth.Request("/1"), synth.Request("/2")...)
	fs := conn(10, 0, synth.Exchange{Request: two, Response: append(synth.Response(5), synth.Response(5)...)})
	in := inputs(t, fs)
	r := run(t, in, model.Default(), []engine.Engine{addHeader{"a: b\r\n"}, addHeader{"a: b\r\n"}, addHeader{"a: b\r\n"}, addHeader{"a: b\r\n"}})
	if r.Stats.RewriteErrors != 2 || r.Stats.Rewritten != 0 || len(r.Stats.Errors) != 2 {
		t.Errorf("rewritten %d, errors %d %v", r.Stats.Rewritten, r.Stats.RewriteErrors, r.Stats.Errors)
	}
	up, _ := leaving(t, in, r, true)
	if !bytes.Equal(up, two) {
		t.Errorf("requests should leave unchanged: %q", up)
	}
}

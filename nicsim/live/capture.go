package live

import (
	"io"

	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/pcapio"
)

// capture writes the frames that left the NIC to a pcap, each built with
// nicsim/frame from the connection's real addresses and stamped with its
// simulated departure, so Wireshark shows what crossed the NIC and when
// the model says it left. Only a capture serializes frames: the simulation
// itself needs only their parsed view.
type capture struct {
	w   *pcapio.Writer
	b   *frame.Builder
	buf []byte
	err error
}

func newCapture(w io.Writer) (*capture, error) {
	pw, err := pcapio.NewWriter(w)
	if err != nil {
		return nil, err
	}
	return &capture{w: pw, b: frame.NewBuilder()}, nil
}

// write records frame r (as the deparser emitted it: the segments of a
// rewritten message, or the frame with its numbers shifted). Caller holds
// n.mu. The first error is kept and reported by flush.
func (c *capture) write(n *NIC, r *frameRec) {
	if c.err != nil {
		return
	}
	h := r.h
	seg := frame.Segment{Src: h.src, Dst: h.dst, Seq: r.seq, Ack: r.ack, Flags: r.flags, Window: 65535, Payload: r.payload}
	if r.flags&frame.SYN != 0 {
		seg.MSS = mss
	}
	if p := r.patch; p != nil {
		if p.Replaced {
			for i := range p.Segments {
				sg := &p.Segments[i]
				seg.Seq, seg.Ack, seg.Flags, seg.Payload = sg.Seq, sg.Ack, sg.Flags, sg.Payload
				c.emit(n.clk.wall(sg.Depart), &seg)
			}
			return
		}
		seg.Seq += p.SeqDelta
		seg.Ack += p.AckDelta
	}
	c.emit(n.clk.wall(r.at), &seg)
}

func (c *capture) emit(ts int64, s *frame.Segment) {
	var err error
	if c.buf, err = c.b.Append(c.buf[:0], s); err == nil {
		err = c.w.Write(ts, c.buf)
	}
	if err != nil && c.err == nil {
		c.err = err
	}
}

func (c *capture) flush() error {
	if err := c.w.Flush(); c.err == nil {
		c.err = err
	}
	return c.err
}

package live

import "github.com/nicrt/nicrt/nicsim/httpframe"

// Cutting the byte stream into frames at HTTP message boundaries. The
// kernel hands the NIC bytes, not segments, so the NIC chooses where its
// frames start and end: at the MSS, and — so that no frame carries the end
// of one message and the start of the next — at every message boundary.
// That is what lets the simulation drop one pipelined request the filters
// answered locally, or rewrite it, without touching its neighbours (the
// simulation refuses both for a segment that straddles two messages). A
// client usually sends each request in segments of its own anyway.

// cutter finds message boundaries in one half's offered stream.
type cutter struct {
	buf []byte // the bytes of the message being framed, so far
	off bool   // the stream is not HTTP (error, tunnel): no more cuts
}

// cuts appends to dst the offsets in data (1..len(data)) where a message
// ends, framing with c's shared httpframe.Conn (requests on the client's
// half, responses on the server's, so a response to HEAD is framed right).
func (c *conn) cuts(h *half, data []byte, dst []int) []int {
	cu := &h.cut
	if cu.off || len(data) == 0 {
		return dst
	}
	base := -len(cu.buf) // offset in data of cu.buf[0]
	cu.buf = append(cu.buf, data...)
	for {
		var m *httpframe.Message
		var err error
		if h == c.client {
			m, err = c.hf.NextRequest(cu.buf, false)
		} else {
			m, err = c.hf.NextResponse(cu.buf, false)
		}
		if err != nil {
			cu.off, cu.buf = true, nil
			return dst
		}
		if m == nil {
			return dst
		}
		end := base + m.Len
		dst = append(dst, end)
		cu.buf = cu.buf[:copy(cu.buf, cu.buf[m.Len:])]
		base = end
		if cap(cu.buf) > 1<<20 && len(cu.buf) == 0 {
			cu.buf = nil // do not keep a large message's buffer
		}
	}
}

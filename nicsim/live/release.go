package live

import (
	"time"

	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// drain releases h's frames in stream order while the first one has left
// the simulated NIC by now (or was dropped). A frame whose departure is
// still ahead stops it and puts h on the waiting list. Caller holds n.mu.
func (n *NIC) drain(h *half, now model.Time) {
	c := h.c
	for h.head < len(h.fifo) {
		r := h.fifo[h.head]
		if !r.done {
			break
		}
		if r.drop == sim.Forwarded && r.at > now {
			n.markWaiting(h)
			break
		}
		if h == c.client && c.gateEnd >= 0 && r.end > c.gateEnd {
			// Held behind a local reply that waits for its turn.
			break
		}
		if h.pendingJobs > 0 && h.heldByJob(r) {
			break // its message (or one before it) waits for its filter
		}
		h.fifo[h.head] = nil
		h.head++
		n.release(h, r, now)
	}
	if h.head == len(h.fifo) {
		h.fifo, h.head = h.fifo[:0], 0
	} else if h.head >= 64 && h.head*2 >= len(h.fifo) {
		k := copy(h.fifo, h.fifo[h.head:])
		clear(h.fifo[k:])
		h.fifo, h.head = h.fifo[:k], 0
	}
	if h.abortReq {
		h.abortReq = false
		h.out.abort = !h.finished
	}
	if !h.out.empty() && !h.flags.outbox {
		h.flags.outbox = true
		n.outbox = append(n.outbox, h)
	}
}

// release handles one frame leaving h's queue: its bytes go to the out
// batch (forwarded) or are dropped, the handshake and message accounting
// advance, and lateness is measured against its modeled departure.
func (n *NIC) release(h *half, r *frameRec, now model.Time) {
	c := h.c
	h.relIn = r.end
	if r.hs {
		c.hsLeft--
		c.hsShift += r.at - r.arrive
		c.hsEnd = max(c.hsEnd, r.at)
		n.ctr.modeled += r.at - r.arrive
		if r.flags&frame.ACK == 0 && c.synGone != nil {
			close(c.synGone)
			c.synGone = nil
		}
		if c.hsLeft == 0 {
			n.handshakeDone(c)
		}
	}
	dir := b2i(h.toHost)
	d := h.descOf(r)
	if r.drop == sim.Forwarded && d != nil && d.dropped && d.heldUntil != 0 {
		// Forwarded provisionally while its filter paused, then dropped.
		if r.ck != nil {
			r.ck.release()
		}
		n.returnRoom(h, int64(len(r.payload)))
		n.ctr.dropped[sim.FilterDrop]++
	} else if r.drop == sim.Forwarded {
		if n.cap != nil {
			n.cap.write(n, r)
		}
		o := &h.out
		if d != nil && d.rewrite != nil {
			// Rewritten after a pause: the new bytes go with its last frame.
			if r.end == d.end {
				o.bufs = append(o.bufs, d.rewrite)
				n.ctr.bytesOut[dir] += int64(len(d.rewrite))
			}
		} else if p := r.patch; p != nil && p.Replaced {
			for i := range p.Segments {
				if b := p.Segments[i].Payload; len(b) > 0 {
					o.bufs = append(o.bufs, b)
					n.ctr.bytesOut[dir] += int64(len(b))
				}
			}
		} else if len(r.payload) > 0 {
			o.bufs = append(o.bufs, r.payload)
			n.ctr.bytesOut[dir] += int64(len(r.payload))
		}
		o.orig += int64(len(r.payload))
		if r.ck != nil {
			o.cks = append(o.cks, r.ck)
		}
		n.ctr.framesOut[dir]++
		if !r.hs {
			late := now - r.at
			if d != nil && d.heldUntil != 0 {
				late = now - max(r.at, d.heldUntil) // the filter's wait is not lateness
			}
			n.ctr.frameLate.add(dur(late))
			if len(r.payload) > 0 {
				h.curLate = max(h.curLate, late)
				if h == c.server {
					c.firstFlight = false
				}
			}
		}
		if r.flags&frame.FIN != 0 {
			o.fin = true
		}
		if r.flags&frame.RST != 0 {
			o.abort = true
		}
	} else {
		if r.ck != nil {
			r.ck.release()
		}
		n.returnRoom(h, int64(len(r.payload)))
		n.ctr.dropped[r.drop]++
		if r.drop == sim.QueueFull || r.drop == sim.Malformed {
			// The kernel already acknowledged these bytes, so no sender
			// will retransmit them: the connection cannot recover.
			n.abortLocked(c)
		}
	}
	for h.msgHead < len(h.msgs) && h.msgs[h.msgHead].end <= r.end {
		d := h.msgs[h.msgHead]
		h.msgs[h.msgHead] = msgDesc{}
		h.msgHead++
		n.finishMsg(h, &d, r)
	}
	if h.msgHead == len(h.msgs) {
		h.msgs, h.msgHead = h.msgs[:0], 0
	}
	*r = frameRec{}
	n.recs = append(n.recs, r)
}

// descOf returns the message a data frame carries (frames are cut at
// message boundaries), or nil.
func (h *half) descOf(r *frameRec) *msgDesc {
	if len(r.payload) == 0 || h.msgHead >= len(h.msgs) {
		return nil
	}
	if d := &h.msgs[h.msgHead]; r.end > d.start && r.end <= d.end {
		return d
	}
	return nil
}

// heldByJob reports whether frame r carries bytes of, or after, a message
// whose filter has not given its result.
func (h *half) heldByJob(r *frameRec) bool {
	for i := h.msgHead; i < len(h.msgs); i++ {
		if d := &h.msgs[i]; d.job != nil {
			return r.end > d.start
		}
	}
	return false
}

// handshakeDone runs when the SYN and SYN-ACK have left: the client's first
// flight, read meanwhile, may now be offered (see conn.afterHandshake).
func (n *NIC) handshakeDone(c *conn) {
	h := c.client
	for i := h.qHead; i < len(h.q); i++ {
		if d := &h.q[i]; d.shift && d.at == never {
			d.at = c.afterHandshake(d.arrive)
		}
	}
}

// afterHandshake is when bytes of the client's first flight read at arrive
// may be offered: the client sent them as soon as its connect returned, but
// on the wire it could only have sent them once the SYN-ACK had reached
// it, so they are offered the handshake's transit after they were read,
// and never before the SYN-ACK left (which, for a relay, includes the
// upstream's own connect time).
func (c *conn) afterHandshake(arrive model.Time) model.Time {
	return max(arrive+c.hsShift, c.hsEnd)
}

// finishMsg accounts for a message whose last frame has left (or was
// dropped): its lateness, or the local reply that replaces it.
func (n *NIC) finishMsg(h *half, d *msgDesc, last *frameRec) {
	c := h.c
	if !d.dropped {
		n.ctr.messages[b2i(h.toHost)]++
		n.ctr.modeled += max(last.at, d.heldUntil) - last.arrive
		late := h.curLate
		h.curLate = 0
		n.ctr.msgLate.add(dur(late))
		k := msgKind(d.request, h.toHost)
		n.ctr.kindLate[k].add(dur(late))
		if late > n.tol {
			n.ctr.underruns++
			n.ctr.kindUnderruns[k]++
		}
		return
	}
	h.curLate = 0
	switch {
	case d.reply == nil:
		// The filters reset the stream: so does the NIC.
		n.abortLocked(c)
	case d.request:
		for i := range c.replies {
			if p := &c.replies[i]; p.exchange == d.exchange && !p.atKnown {
				p.at, p.atKnown = last.at, true
				break
			}
		}
		n.tryInject(c)
	default:
		// A response the filters replaced with a local one after failing:
		// send that instead, then close, since the exchanges that follow
		// could no longer be matched to their requests.
		if !h.fin {
			at := max(last.at, d.heldUntil)
			n.enqueue(h, d.reply, nil, 0, n.lastT, at)
			n.enqueue(h, nil, nil, frame.FIN, n.lastT, at)
		}
	}
}

// tryInject sends the local replies whose turn has come: every response
// before theirs has been framed, and their request's engine is done.
func (n *NIC) tryInject(c *conn) {
	k := 0
	for k < len(c.replies) {
		p := &c.replies[k]
		if !p.atKnown || c.finals < p.exchange {
			break
		}
		if !c.server.fin {
			n.enqueue(c.server, p.data, nil, 0, n.lastT, p.at)
		}
		k++
	}
	if k > 0 {
		n := copy(c.replies, c.replies[k:])
		clear(c.replies[n:])
		c.replies = c.replies[:n]
	}
	gate := int64(-1)
	if len(c.replies) > 0 {
		gate = c.replies[0].end
	}
	if gate != c.gateEnd {
		c.gateEnd = gate
		n.markDirty(c.client)
	}
}

// abortLocked resets a connection: both sides get an RST (their sinks are
// aborted), and the simulation hears one in each direction so it forgets
// the flow. Caller holds n.mu.
func (n *NIC) abortLocked(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	n.ctr.aborted++
	if c.synGone != nil {
		close(c.synGone)
		c.synGone = nil
	}
	for _, h := range c.h {
		// Deferred bytes will never be offered: free them.
		for i := h.qHead; i < len(h.q); i++ {
			if d := &h.q[i]; d.ck != nil {
				d.ck.release()
			}
			n.returnRoom(h, int64(len(h.q[i].data)))
			h.q[i] = deferredOffer{}
		}
		h.q, h.qHead = h.q[:0], 0
		if !h.fin {
			h.fin = true
			n.offerNow(h, nil, nil, frame.RST, n.lastT)
		}
		if !h.finished {
			// The next drain (by the goroutine driving the NIC, which
			// alone touches out batches) resets the sink.
			h.abortReq = true
			n.markDirty(h)
		}
		select {
		case h.roomWait <- struct{}{}:
		default:
		}
	}
}

// halfDone records that h's FIN or RST reached its sink; when both halves
// are done the connection is forgotten. Caller holds n.mu.
func (n *NIC) halfDone(h *half) {
	if h.finished {
		return
	}
	h.finished = true
	c := h.c
	c.done++
	if c.done < 2 {
		return
	}
	c.closed = true
	delete(n.flows, c.key)
	n.open.Add(-1)
	if c.onDone != nil {
		go c.onDone()
	}
	n.conns.Done()
}

// dur converts simulated time to a duration (nanoseconds, truncated).
func dur(t model.Time) time.Duration { return time.Duration(t / model.Nanosecond) }

package live

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/model"
)

// liveEngine is one of the NIC's engines: the simulation calls it as usual
// (inside Advance, under the NIC's lock, in simulated-time order); it runs
// the ingress or egress filters by where the message's exchange started,
// and the NIC learns from each result what the host must see: the route an
// egress request takes, the local reply that replaces a dropped one.
type liveEngine struct {
	n               *NIC
	ingress, egress engine.Engine
	first           bool
}

// Process runs the message's chain and notes the result.
func (e *liveEngine) Process(m *engine.Message) (engine.Result, error) {
	inner := e.ingress
	if c := e.n.flows[m.Flow]; c != nil && c.kind == kindEgress {
		inner = e.egress
	}
	res, err, j := e.n.run(inner, m)
	e.n.noteMessage(m, &res, err, j)
	return res, err
}

// FlowClosed passes the simulator's flow end to the inner engines. The
// simulation tells every engine; the NIC's first engine tells each
// distinct inner engine once (they are usually one shared wasmengine).
func (e *liveEngine) FlowClosed(k flow.Key) {
	if !e.first {
		return
	}
	for _, fc := range e.n.closers {
		fc.FlowClosed(k)
	}
}

// noteMessage records a framed message on its half (for the release
// accounting) and settles it, unless its filters paused it (j): then the
// message is held until its job completes. Caller holds n.mu.
func (n *NIC) noteMessage(m *engine.Message, res *engine.Result, err error, j *job) {
	c := n.flows[m.Flow]
	if c == nil {
		return
	}
	h := c.h[m.Dir]
	start := h.framedOff
	h.framedOff += int64(len(m.Raw))
	h.msgs = append(h.msgs, msgDesc{start: start, end: h.framedOff, request: m.Head.Kind == httpframe.Request, exchange: m.Exchange, final: m.Final})
	d := &h.msgs[len(h.msgs)-1]
	if j != nil {
		d.job = j
		h.pendingJobs++
		if d.request && c.eg != nil {
			d.route = c.eg.push(egRoute{pending: true})
		}
		return
	}
	n.settle(c, h, d, m, res, err, 0)
}

// settle applies the filters' result to a message: it queues the local
// reply of a dropped request, routes an egress request, and counts final
// responses. held is when the result came for a message that was held
// while its filter paused (0: it was not): the simulation forwarded such a
// message provisionally, so the NIC itself drops or rewrites its bytes.
// Caller holds n.mu.
func (n *NIC) settle(c *conn, h *half, d *msgDesc, m *engine.Message, res *engine.Result, err error, held model.Time) {
	d.heldUntil = held
	switch {
	case err != nil || res.Verdict == engine.Drop:
		d.dropped = true
		reply := res.Reply
		if !d.request && res.Rewrite != nil {
			reply = res.Rewrite // a response replaced after a failure
		}
		switch {
		case err != nil:
			n.ctr.filterErrors++
			n.noteError(err)
			if reply == nil {
				reply = failReply(m.Head.Minor, "nic_filter_error", err)
			}
		case reply != nil:
			n.ctr.localReplies++
		default:
			n.ctr.resets++
		}
		if reply != nil {
			d.reply = append([]byte(nil), reply...)
		}
		if d.request && d.reply != nil {
			c.replies = append(c.replies, pendingReply{exchange: d.exchange, end: d.end, data: d.reply, at: held, atKnown: held != 0})
			if c.gateEnd < 0 {
				c.gateEnd = d.end
			}
		}
		if d.route != nil {
			c.eg.resolve(d.route, egRoute{skip: true})
			n.kickSink(c.eg)
		}
	case d.request:
		if held != 0 && res.Rewrite != nil {
			d.rewrite = append([]byte(nil), res.Rewrite...)
		}
		if c.eg != nil {
			r := n.route(c, m, res)
			if d.route != nil {
				c.eg.resolve(d.route, r)
				n.kickSink(c.eg)
			} else {
				c.eg.push(r)
			}
		}
	case m.Final:
		if held != 0 && res.Rewrite != nil {
			d.rewrite = append([]byte(nil), res.Rewrite...)
		}
		c.finals++
		n.tryInject(c)
	}
}

func (n *NIC) kickSink(s *egressSink) {
	if !slices.Contains(n.kicks, s) {
		n.kicks = append(n.kicks, s)
	}
}

// failReply is the NIC's answer when the filters failed (fail closed): a
// 500 whose details field names the cause, as the sidecar answers.
func failReply(minor int, details string, err error) []byte {
	return localReply(minor, 500, details, err.Error()+"\n")
}

// localReply serializes a response the NIC itself produces.
func localReply(minor, status int, details, body string) []byte {
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1."...)
	b = strconv.AppendInt(b, int64(minor), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\ncontent-type: text/plain\r\nx-nicrt-details: "...)
	b = append(b, details...)
	b = append(b, "\r\ncontent-length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

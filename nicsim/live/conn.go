package live

import (
	"net/netip"

	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
)

// The frames of a live connection. The kernel's TCP already carried the
// bytes to a socket before the NIC sees them, so the NIC represents them as
// the frames a NIC would have seen: a SYN and SYN-ACK when the connection
// opens, the data cut at the Ethernet MSS with running sequence and
// acknowledgment numbers, and a FIN (or RST) when a side closes. Pure ACKs
// are not represented: every data segment carries the cumulative ACK.

// mss is the largest TCP payload of a 1500-byte Ethernet MTU without TCP
// options (the frames carry none but the SYN's MSS).
const mss = 1460

// Frame sizes as frame.Builder lays them out: Ethernet 14 + IPv4 20 + TCP
// 20 bytes of headers (+4 for the SYN's MSS option), padded to 60.
const (
	hdrLen    = 14 + 20 + 20
	minFrame  = 60
	synOption = 4
)

func frameLen(payload int, flags frame.Flags) int {
	n := hdrLen + payload
	if flags&frame.SYN != 0 {
		n += synOption
	}
	return max(n, minFrame)
}

// MACs of the two sides of the NIC's port, locally administered: the host
// and the wire (the rest of the network).
var (
	hostMAC = [6]byte{0x02, 0x6e, 0x69, 0x63, 0x00, 0x01}
	wireMAC = [6]byte{0x02, 0x6e, 0x69, 0x63, 0x00, 0x02}
)

func endpoint(ap netip.AddrPort, mac [6]byte) frame.Endpoint {
	return frame.Endpoint{MAC: mac, IP: ap.Addr().As4(), Port: ap.Port()}
}

// connKind says where the NIC sits on a connection.
type connKind uint8

const (
	kindIngress connKind = iota // wire client → NIC → local service (Listener)
	kindEgress                  // local client → NIC → chosen upstream (DialContext)
	kindRelay                   // wire client → NIC → upstream host (Relay)
)

var kindNames = [...]string{"ingress", "egress", "relay"}

// conn is one TCP connection through the NIC: two halves (directions), the
// client's (requests) and the server's (responses).
type conn struct {
	n    *NIC
	id   uint32 // also the flow epoch: keys never collide across connections
	kind connKind
	key  flow.Key
	// h is indexed by the simulator's flow.Dir of each half.
	h              [2]*half
	client, server *half

	// The handshake: the SYN and SYN-ACK cross the NIC when the connection
	// opens; hsLeft counts those not yet gone, hsShift sums their transits,
	// hsEnd is when the last of them left.
	hsLeft  int
	hsShift model.Time
	hsEnd   model.Time
	// synGone, for a relayed connection, is closed when the client's SYN
	// has crossed the NIC (or the connection was aborted): only then does
	// the host see the connection, so only then does the relay dial it,
	// and the SYN-ACK is offered when that dial completes. A NIC in front
	// of a host cannot overlap its own handshake transit with the host's.
	synGone chan struct{}
	// firstFlight is true until the server's first byte left the NIC: the
	// client's bytes until then are offered hsShift later than they were
	// read (see half.offer).
	firstFlight bool

	// finals counts final responses the NIC has framed (each fills one
	// exchange's response slot); replies are local responses waiting for
	// their slot; gateEnd holds back the client's bytes beyond the request
	// the first of them answers (-1: no gate).
	finals  int
	replies []pendingReply
	gateEnd int64

	eg     *egressSink    // egress: where requests go after routing
	hf     httpframe.Conn // frames the offered streams to cut at message boundaries
	done   int            // halves that have finished (FIN or RST released)
	closed bool
	onDone func()
}

// pendingReply is a local response for request number exchange, injected
// into the server's stream once the responses before it are framed and
// the request's engine is done (at).
type pendingReply struct {
	exchange int
	end      int64 // the request's end in the client's stream
	data     []byte
	at       model.Time
	atKnown  bool
	closeNow bool // close the connection after it (a failed response)
}

// half is one direction of a connection.
type half struct {
	c      *conn
	peer   *half
	toHost bool // its frames are ingress (wire → host)
	src    frame.Endpoint
	dst    frame.Endpoint
	isn    uint32
	off    int64 // input stream bytes offered so far
	fin    bool  // a FIN or RST was offered (no more bytes)

	fifo []*frameRec // in flight, in stream order
	head int
	// relIn is the input stream offset through which this half's frames
	// have left (released or dropped): what the peer acknowledges.
	relIn int64

	// Offers not yet made: the client's first flight (waiting for the
	// handshake's transit), injected replies, and whatever queued behind
	// them, in order.
	q     []deferredOffer
	qHead int

	// Messages the engines framed in this direction, in order, for the
	// release accounting (lateness per message, local replies).
	msgs        []msgDesc
	msgHead     int
	framedOff   int64
	pendingJobs int        // messages held while their filter pauses
	curLate     model.Time // largest lateness among the current message's frames

	cut      cutter
	sink     sink
	out      outBatch
	inflight int64 // bytes offered and not yet delivered (backpressure)
	roomWait chan struct{}
	waiting  bool // a producer waits for room

	finished bool // its FIN/RST was released
	abortReq bool // the connection was reset: abort the sink at the next drain
	flags    halfFlags
}

// halfFlags are the lists a half is on, so it is added once.
type halfFlags struct{ dirty, waiting, deferred, outbox bool }

// deferredOffer is bytes (or a FIN/RST) to offer at a later time.
type deferredOffer struct {
	data   []byte
	ck     *chunk
	flags  frame.Flags
	arrive model.Time // when they were read
	at     model.Time // when to offer them; never: waiting for the handshake
	shift  bool       // first flight: at = arrive + the handshake's transit
}

// msgDesc is one framed HTTP message, as the engines saw it.
type msgDesc struct {
	start, end int64 // its bytes in the input stream
	request    bool
	exchange   int
	final      bool
	// reply is the local response that replaces it (dropped message).
	reply   []byte
	dropped bool
	// A message whose filter paused: job runs it; heldUntil is when its
	// result came, rewrite the bytes the NIC sends instead of its frames'
	// (the simulation forwarded it provisionally, unchanged), route its
	// egress route.
	job       *job
	heldUntil model.Time
	rewrite   []byte
	route     *egRoute
}

// frameRec is one frame in flight: the simulator knows it by id, the NIC by
// this record.
type frameRec struct {
	h       *half
	payload []byte
	ck      *chunk
	flags   frame.Flags
	seq     uint32
	ack     uint32
	end     int64 // input stream offset after its payload
	arrive  model.Time
	at      model.Time // departure (or drop) time
	drop    sim.Drop
	done    bool
	hs      bool // a handshake frame
	patch   *sim.Patch
	frameID int
}

// outBatch is what one pump released for a half, delivered outside the lock.
type outBatch struct {
	bufs  [][]byte
	cks   []*chunk
	orig  int64 // input bytes the batch stands for (the budget to return)
	fin   bool
	abort bool
}

func (o *outBatch) empty() bool { return len(o.bufs) == 0 && !o.fin && !o.abort }

func (o *outBatch) reset() {
	clear(o.bufs)
	o.bufs = o.bufs[:0]
	clear(o.cks)
	o.cks = o.cks[:0]
	o.orig, o.fin, o.abort = 0, false, false
}

// newConn builds a connection between client and server endpoints. The
// client's half is ingress when clientOnWire.
func (n *NIC) newConn(kind connKind, client, server netip.AddrPort, clientOnWire bool) *conn {
	n.serial++
	c := &conn{n: n, id: n.serial, kind: kind, gateEnd: -1, firstFlight: true}
	c.hf.Reset(httpframe.DefaultLimits)
	cmac, smac := hostMAC, wireMAC
	if clientOnWire {
		cmac, smac = wireMAC, hostMAC
	}
	ce, se := endpoint(client, cmac), endpoint(server, smac)
	c.client = &half{c: c, toHost: clientOnWire, src: ce, dst: se, isn: isn(c.id, 0)}
	c.server = &half{c: c, toHost: !clientOnWire, src: se, dst: ce, isn: isn(c.id, 1)}
	c.client.peer, c.server.peer = c.server, c.client
	var dir flow.Dir
	c.key, dir = flow.KeyOf(ce, se, c.id)
	c.h[dir], c.h[1-dir] = c.client, c.server
	for _, h := range c.h {
		h.roomWait = make(chan struct{}, 1)
	}
	return c
}

// isn derives a connection side's initial sequence number: arbitrary but
// reproducible, and different per side.
func isn(id uint32, side uint32) uint32 {
	x := uint64(id)<<1 | uint64(side)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return uint32(x)
}

// seqAt is the sequence number of the byte at input stream offset off.
func (h *half) seqAt(off int64) uint32 { return h.isn + 1 + uint32(off) }

// ackNow is what this side acknowledges: the peer's bytes that have left
// the NIC toward it, in the peer's input numbering (the simulator maps
// acknowledgments across rewritten messages itself).
func (h *half) ackNow() uint32 { return h.peer.seqAt(h.peer.relIn) }

// packet builds the parsed view of one segment of h: what frame.Parser
// returns for the frame frame.Builder makes of it (a test checks the two
// agree), without serializing it. The frame's bytes are built only for a
// capture.
func (h *half) packet(seq uint32, flags frame.Flags, payload []byte) (frame.Packet, int) {
	ack := uint32(0)
	if flags&frame.ACK != 0 {
		ack = h.ackNow()
	}
	return frame.Packet{
		Kind: frame.KindTCP, Src: h.src, Dst: h.dst, Seq: seq, Ack: ack,
		Flags: flags, Window: 65535, Payload: payload,
	}, frameLen(len(payload), flags)
}

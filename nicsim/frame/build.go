package frame

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Builder serializes segments into frames with gopacket, reusing its layers
// and serialize buffer, so building allocates only what the caller keeps.
// A Builder is not safe for concurrent use.
type Builder struct {
	buf  gopacket.SerializeBuffer
	eth  layers.Ethernet
	ip   layers.IPv4
	tcp  layers.TCP
	opts gopacket.SerializeOptions
	mss  [2]byte
}

// NewBuilder returns a Builder that fixes lengths and computes the IPv4 and
// TCP checksums of every frame.
func NewBuilder() *Builder {
	return &Builder{
		buf:  gopacket.NewSerializeBufferExpectedSize(ethHeaderLen+ipv4MinHeader+tcpMinHeader+4, 1500),
		opts: gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
	}
}

// MaxPayload is the largest TCP payload one IPv4 packet can carry here.
const MaxPayload = 65535 - ipv4MinHeader - tcpMinHeader - 4

// Append serializes s as an Ethernet/IPv4/TCP frame and appends it to dst.
func (b *Builder) Append(dst []byte, s *Segment) ([]byte, error) {
	if len(s.Payload) > MaxPayload {
		return dst, fmt.Errorf("frame: payload of %d bytes exceeds the IPv4 maximum %d", len(s.Payload), MaxPayload)
	}
	b.eth = layers.Ethernet{SrcMAC: s.Src.MAC[:], DstMAC: s.Dst.MAC[:], EthernetType: layers.EthernetTypeIPv4}
	b.ip = layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Id: s.IPID, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP, SrcIP: s.Src.IP[:], DstIP: s.Dst.IP[:],
	}
	b.tcp = layers.TCP{
		SrcPort: layers.TCPPort(s.Src.Port), DstPort: layers.TCPPort(s.Dst.Port),
		Seq: s.Seq, Ack: s.Ack, Window: s.Window,
		FIN: s.Flags&FIN != 0, SYN: s.Flags&SYN != 0, RST: s.Flags&RST != 0,
		PSH: s.Flags&PSH != 0, ACK: s.Flags&ACK != 0,
	}
	if s.MSS != 0 && s.Flags&SYN != 0 {
		b.mss = [2]byte{byte(s.MSS >> 8), byte(s.MSS)}
		b.tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: b.mss[:]}}
	}
	if err := b.tcp.SetNetworkLayerForChecksum(&b.ip); err != nil {
		return dst, err
	}
	if err := gopacket.SerializeLayers(b.buf, b.opts, &b.eth, &b.ip, &b.tcp, gopacket.Payload(s.Payload)); err != nil {
		return dst, fmt.Errorf("frame: serialize: %w", err)
	}
	return append(dst, b.buf.Bytes()...), nil
}

// Conn generates the frames of one TCP connection: handshake, data split at
// the MSS with running sequence and acknowledgment numbers, and close. It is
// how test captures are made and how a deparser re-segments a message.
type Conn struct {
	Client, Server Endpoint
	// MSS is the largest payload per segment.
	MSS int
	// Window is the receive window every segment advertises.
	Window uint16

	b    *Builder
	next [2]uint32 // next sequence number to send, [client, server]
	ipid [2]uint16
	out  []byte
}

// NewConn starts a connection with the given initial sequence numbers.
func NewConn(client, server Endpoint, clientISN, serverISN uint32, mss int) (*Conn, error) {
	if mss < 1 || mss > MaxPayload {
		return nil, fmt.Errorf("frame: MSS %d outside 1..%d", mss, MaxPayload)
	}
	return &Conn{
		Client: client, Server: server, MSS: mss, Window: 65535, b: NewBuilder(),
		next: [2]uint32{clientISN, serverISN},
		ipid: [2]uint16{uint16(clientISN), uint16(serverISN)},
	}, nil
}

// Emit receives each built frame; the slice is reused after Emit returns.
type Emit func(fromClient bool, frame []byte) error

func side(fromClient bool) int {
	if fromClient {
		return 0
	}
	return 1
}

func (c *Conn) send(fromClient bool, flags Flags, payload []byte, emit Emit) error {
	i := side(fromClient)
	s := Segment{Seq: c.next[i], Window: c.Window, Flags: flags, IPID: c.ipid[i], Payload: payload}
	if fromClient {
		s.Src, s.Dst = c.Client, c.Server
	} else {
		s.Src, s.Dst = c.Server, c.Client
	}
	if flags&ACK != 0 {
		s.Ack = c.next[1-i]
	}
	if flags&SYN != 0 {
		s.MSS = uint16(c.MSS)
	}
	var err error
	if c.out, err = c.b.Append(c.out[:0], &s); err != nil {
		return err
	}
	c.ipid[i]++
	c.next[i] += uint32(len(payload))
	if flags&(SYN|FIN) != 0 {
		c.next[i]++ // SYN and FIN each occupy one sequence number
	}
	return emit(fromClient, c.out)
}

// Handshake emits SYN, SYN-ACK and ACK.
func (c *Conn) Handshake(emit Emit) error {
	if err := c.send(true, SYN, nil, emit); err != nil {
		return err
	}
	if err := c.send(false, SYN|ACK, nil, emit); err != nil {
		return err
	}
	return c.send(true, ACK, nil, emit)
}

// Send emits data from one side as segments of at most MSS bytes, each
// acknowledging everything the peer sent; the last one carries PSH.
func (c *Conn) Send(fromClient bool, data []byte, emit Emit) error {
	for len(data) > 0 {
		n := min(len(data), c.MSS)
		flags := ACK
		if n == len(data) {
			flags |= PSH
		}
		if err := c.send(fromClient, flags, data[:n], emit); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Ack emits a pure acknowledgment from one side.
func (c *Conn) Ack(fromClient bool, emit Emit) error { return c.send(fromClient, ACK, nil, emit) }

// Close emits a FIN (with ACK) from one side.
func (c *Conn) Close(fromClient bool, emit Emit) error {
	return c.send(fromClient, FIN|ACK, nil, emit)
}

// NextSeq is the next sequence number the given side will send.
func (c *Conn) NextSeq(fromClient bool) uint32 { return c.next[side(fromClient)] }

// ShiftSeqAck returns a copy of an Ethernet/IPv4/TCP frame with seqDelta
// added to its sequence number and ackDelta to its acknowledgment number
// (modulo 2^32) and the TCP checksum recomputed. The deparser uses it on the
// segments that follow a message the filters lengthened or shortened.
func ShiftSeqAck(f []byte, seqDelta, ackDelta uint32) ([]byte, error) {
	var pk Packet
	if err := NewParser().Parse(f, &pk); err != nil {
		return nil, err
	}
	if pk.Kind != KindTCP {
		return nil, fmt.Errorf("frame: ShiftSeqAck on a frame that is not IPv4/TCP")
	}
	out := append([]byte(nil), f...)
	ihl := int(out[ethHeaderLen]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(out[ethHeaderLen+2:]))
	ip := out[ethHeaderLen : ethHeaderLen+total]
	seg := ip[ihl:]
	binary.BigEndian.PutUint32(seg[4:], pk.Seq+seqDelta)
	binary.BigEndian.PutUint32(seg[8:], pk.Ack+ackDelta)
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], checksum(seg, pseudoHeaderSum(ip[12:16], ip[16:20], len(seg))))
	return out, nil
}

// Package frame builds and parses the Ethernet/IPv4/TCP frames that cross the
// simulated NIC, with github.com/google/gopacket's layers. Building turns a
// TCP byte stream into MSS-sized segments with correct sequence numbers and
// checksums (what the NIC's deparser emits); parsing checks a frame the way a
// NIC's parser does (lengths, IPv4 and TCP checksums) and reports a malformed
// one with the byte offset of the fault.
package frame

import (
	"fmt"
	"net/netip"
)

// Endpoint is one side of a TCP connection as the frames carry it.
type Endpoint struct {
	MAC  [6]byte
	IP   [4]byte
	Port uint16
}

// AddrPort returns the endpoint's IP and port, for printing and keys.
func (e Endpoint) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(e.IP), e.Port)
}

// Flags are the TCP control bits a segment carries.
type Flags uint8

// TCP control bits, in their wire positions.
const (
	FIN Flags = 1 << 0
	SYN Flags = 1 << 1
	RST Flags = 1 << 2
	PSH Flags = 1 << 3
	ACK Flags = 1 << 4
)

// String renders flags tcpdump-style, e.g. "S." for SYN-ACK.
func (f Flags) String() string {
	var b []byte
	for _, x := range []struct {
		f Flags
		c byte
	}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {ACK, '.'}} {
		if f&x.f != 0 {
			b = append(b, x.c)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// Kind says what the parser recognized in a frame.
type Kind uint8

const (
	// KindOther is a well-formed frame the NIC pipeline does not interpret
	// (ARP, IPv6, UDP, IP fragments...): it crosses the NIC unchanged.
	KindOther Kind = iota
	// KindTCP is an IPv4/TCP segment: Packet's TCP fields are valid.
	KindTCP
)

// Packet is the parsed view of one frame. Payload aliases the frame's bytes,
// so a Packet is valid only as long as the frame is.
type Packet struct {
	Kind     Kind
	Src, Dst Endpoint
	Seq, Ack uint32
	Flags    Flags
	Window   uint16
	// Payload is the TCP payload (without Ethernet padding).
	Payload []byte
}

// Segment describes one TCP segment to build.
type Segment struct {
	Src, Dst Endpoint
	Seq, Ack uint32
	Flags    Flags
	Window   uint16
	// IPID is the IPv4 identification field.
	IPID uint16
	// MSS, when nonzero on a SYN, is advertised as the MSS option.
	MSS     uint16
	Payload []byte
}

// ParseError reports a malformed frame: which layer, at which byte offset of
// the frame, and why.
type ParseError struct {
	Layer  string
	Offset int
	Reason string
}

// Error says which layer was malformed, where and why.
func (e *ParseError) Error() string {
	return fmt.Sprintf("malformed frame: %s at byte %d: %s", e.Layer, e.Offset, e.Reason)
}

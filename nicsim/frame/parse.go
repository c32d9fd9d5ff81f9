package frame

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

const (
	ethHeaderLen  = 14
	ipv4MinHeader = 20
	tcpMinHeader  = 20
)

// Parser decodes frames with a reused gopacket.DecodingLayerParser, so parsing
// a frame allocates nothing. A Parser is not safe for concurrent use.
type Parser struct {
	eth     layers.Ethernet
	ip      layers.IPv4
	tcp     layers.TCP
	payload gopacket.Payload
	dlp     *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// NewParser returns a Parser for Ethernet/IPv4/TCP frames.
func NewParser() *Parser {
	p := &Parser{decoded: make([]gopacket.LayerType, 0, 4)}
	p.dlp = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &p.eth, &p.ip, &p.tcp, &p.payload)
	p.dlp.IgnoreUnsupported = true
	return p
}

// Parse decodes data into pkt. A frame that is not IPv4/TCP (or is an IP
// fragment) is KindOther, not an error; a frame whose lengths or checksums
// are wrong is a *ParseError naming the layer and byte offset.
func (p *Parser) Parse(data []byte, pkt *Packet) error {
	*pkt = Packet{}
	if len(data) < ethHeaderLen {
		return &ParseError{"ethernet", 0, fmt.Sprintf("frame is %d bytes, shorter than the 14-byte header", len(data))}
	}
	if layers.EthernetType(binary.BigEndian.Uint16(data[12:14])) != layers.EthernetTypeIPv4 {
		return nil // VLAN, IPv6, ARP...: not interpreted, forwarded as is.
	}
	ip := data[ethHeaderLen:]
	if len(ip) < ipv4MinHeader {
		return &ParseError{"ipv4", ethHeaderLen, fmt.Sprintf("%d bytes left, shorter than the 20-byte header", len(ip))}
	}
	if v := ip[0] >> 4; v != 4 {
		return &ParseError{"ipv4", ethHeaderLen, fmt.Sprintf("version %d in an IPv4 ethertype frame", v)}
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	switch {
	case ihl < ipv4MinHeader:
		return &ParseError{"ipv4", ethHeaderLen, fmt.Sprintf("header length %d < 20", ihl)}
	case total < ihl:
		return &ParseError{"ipv4", ethHeaderLen + 2, fmt.Sprintf("total length %d < header length %d", total, ihl)}
	case total > len(ip):
		return &ParseError{"ipv4", ethHeaderLen + 2, fmt.Sprintf("total length %d but only %d bytes in the frame (truncated)", total, len(ip))}
	}
	if c := checksum(ip[:ihl], 0); c != 0 {
		return &ParseError{"ipv4", ethHeaderLen + 10, fmt.Sprintf("header checksum 0x%04x does not verify", binary.BigEndian.Uint16(ip[10:12]))}
	}
	if ip[9] != byte(layers.IPProtocolTCP) || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return nil // not TCP, or a fragment: forwarded as is.
	}
	seg := ip[ihl:total]
	tcpOff := ethHeaderLen + ihl
	if len(seg) < tcpMinHeader {
		return &ParseError{"tcp", tcpOff, fmt.Sprintf("segment is %d bytes, shorter than the 20-byte header", len(seg))}
	}
	if doff := int(seg[12]>>4) * 4; doff < tcpMinHeader || doff > len(seg) {
		return &ParseError{"tcp", tcpOff + 12, fmt.Sprintf("data offset %d outside 20..%d", doff, len(seg))}
	}
	if c := checksum(seg, pseudoHeaderSum(ip[12:16], ip[16:20], len(seg))); c != 0 {
		return &ParseError{"tcp", tcpOff + 16, fmt.Sprintf("checksum 0x%04x does not verify", binary.BigEndian.Uint16(seg[16:18]))}
	}
	// The hand checks above guarantee gopacket's decoders succeed; they fill
	// the fields without allocating.
	if err := p.dlp.DecodeLayers(data, &p.decoded); err != nil {
		return &ParseError{"gopacket", 0, err.Error()}
	}
	if len(p.decoded) < 3 || p.decoded[2] != layers.LayerTypeTCP {
		return &ParseError{"tcp", tcpOff, "gopacket did not decode a TCP layer"}
	}
	pkt.Kind = KindTCP
	copy(pkt.Src.MAC[:], p.eth.SrcMAC)
	copy(pkt.Dst.MAC[:], p.eth.DstMAC)
	copy(pkt.Src.IP[:], p.ip.SrcIP)
	copy(pkt.Dst.IP[:], p.ip.DstIP)
	t := &p.tcp
	pkt.Src.Port, pkt.Dst.Port = uint16(t.SrcPort), uint16(t.DstPort)
	pkt.Seq, pkt.Ack, pkt.Window = t.Seq, t.Ack, t.Window
	pkt.Flags = Flags(t.Contents[13]) & (FIN | SYN | RST | PSH | ACK)
	pkt.Payload = t.Payload
	return nil
}

// checksum is the Internet checksum (RFC 1071) of b added to an initial
// partial sum; it returns 0 over data that includes a correct checksum. It
// adds 32-bit words eight bytes at a time: 2^16 ≡ 1 modulo 0xffff, so the
// folded sum is the same as adding 16-bit words, in a quarter of the steps.
func checksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>32 + v&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pseudoHeaderSum is the partial sum of the IPv4 pseudo-header TCP's checksum covers.
func pseudoHeaderSum(src, dst []byte, tcpLen int) uint32 {
	w := func(b []byte) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }
	return w(src[0:2]) + w(src[2:4]) + w(dst[0:2]) + w(dst[2:4]) + uint32(layers.IPProtocolTCP) + uint32(tcpLen)
}

package frame

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	cli = Endpoint{MAC: [6]byte{2, 0, 0, 0, 0, 1}, IP: [4]byte{10, 0, 0, 1}, Port: 40000}
	srv = Endpoint{MAC: [6]byte{2, 0, 0, 0, 0, 2}, IP: [4]byte{10, 0, 0, 2}, Port: 8080}
)

type captured struct {
	fromClient bool
	data       []byte
}

func collect(out *[]captured) Emit {
	return func(fromClient bool, f []byte) error {
		*out = append(*out, captured{fromClient, bytes.Clone(f)})
		return nil
	}
}

// verifyWithGopacket decodes f with gopacket's own packet decoder and checks
// that the checksums in the frame are the ones gopacket computes.
func verifyWithGopacket(t *testing.T, f []byte) *layers.TCP {
	t.Helper()
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode: %v", el.Error())
	}
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	// ComputeChecksum sums the header as decoded; zero the checksum field
	// first so it computes the value the field must hold.
	stored := tcp.Checksum
	tcp.Contents = bytes.Clone(tcp.Contents)
	tcp.Contents[16], tcp.Contents[17] = 0, 0
	want, err := tcp.ComputeChecksum()
	if err != nil {
		t.Fatal(err)
	}
	tcp.Checksum = stored
	if tcp.Checksum != want {
		t.Errorf("TCP checksum 0x%04x, gopacket computes 0x%04x", tcp.Checksum, want)
	}
	// gopacket recomputes the IPv4 header checksum when it serializes.
	ipCopy := *ip
	buf := gopacket.NewSerializeBuffer()
	if err := ipCopy.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes()[10:12]; !bytes.Equal(got, f[24:26]) {
		t.Errorf("IPv4 checksum %x, gopacket computes %x", f[24:26], got)
	}
	return tcp
}

func TestRoundTripSegmentation(t *testing.T) {
	const mss = 100
	var sisn uint32 = 0xfffffff1
	c, err := NewConn(cli, srv, 1000, sisn-1, mss) // server ISN wraps
	if err != nil {
		t.Fatal(err)
	}
	var frames []captured
	emit := collect(&frames)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := bytes.Repeat([]byte("0123456789"), 25) // 250 B → 100+100+50
	for _, step := range []func() error{
		func() error { return c.Handshake(emit) },
		func() error { return c.Send(true, req, emit) },
		func() error { return c.Send(false, resp, emit) },
		func() error { return c.Close(true, emit) },
		func() error { return c.Close(false, emit) },
		func() error { return c.Ack(true, emit) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		fromClient bool
		flags      Flags
		seq, ack   uint32
		n          int
	}
	wants := []want{
		{true, SYN, 1000, 0, 0},
		{false, SYN | ACK, sisn - 1, 1001, 0},
		{true, ACK, 1001, sisn, 0},
		{true, ACK | PSH, 1001, sisn, len(req)},
		{false, ACK, sisn, 1001 + uint32(len(req)), 100},
		{false, ACK, sisn + 100, 1001 + uint32(len(req)), 100},
		{false, ACK | PSH, sisn + 200, 1001 + uint32(len(req)), 50},
		{true, FIN | ACK, 1001 + uint32(len(req)), sisn + 250, 0},
		{false, FIN | ACK, sisn + 250, 1002 + uint32(len(req)), 0},
		{true, ACK, 1002 + uint32(len(req)), sisn + 251, 0},
	}
	if len(frames) != len(wants) {
		t.Fatalf("%d frames, want %d", len(frames), len(wants))
	}
	p := NewParser()
	var got []byte
	for i, f := range frames {
		w := wants[i]
		var pkt Packet
		if err := p.Parse(f.data, &pkt); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		tcp := verifyWithGopacket(t, f.data)
		if pkt.Kind != KindTCP || pkt.Flags != w.flags || pkt.Seq != w.seq || pkt.Ack != w.ack || len(pkt.Payload) != w.n {
			t.Errorf("frame %d: %v seq=%d ack=%d len=%d, want %v seq=%d ack=%d len=%d",
				i, pkt.Flags, pkt.Seq, pkt.Ack, len(pkt.Payload), w.flags, w.seq, w.ack, w.n)
		}
		if f.fromClient != w.fromClient || (pkt.Src == cli) != w.fromClient {
			t.Errorf("frame %d: wrong direction", i)
		}
		if w.flags&SYN != 0 && (len(tcp.Options) == 0 || tcp.Options[0].OptionType != layers.TCPOptionKindMSS) {
			t.Errorf("frame %d: SYN without MSS option", i)
		}
		if !f.fromClient {
			got = append(got, pkt.Payload...)
		}
	}
	if !bytes.Equal(got, resp) {
		t.Errorf("reassembled response differs")
	}
}

func validFrame(t testing.TB) []byte {
	b := NewBuilder()
	f, err := b.Append(nil, &Segment{Src: cli, Dst: srv, Seq: 1, Ack: 2, Flags: ACK | PSH, Window: 100, Payload: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseErrors(t *testing.T) {
	base := validFrame(t)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(base)) }
	for _, tc := range []struct {
		name   string
		frame  []byte
		layer  string
		offset int
	}{
		{"short ethernet", base[:10], "ethernet", 0},
		{"short ipv4", base[:20], "ipv4", 14},
		{"ip version", mod(func(b []byte) []byte { b[14] = 0x65; return b }), "ipv4", 14},
		{"ihl too small", mod(func(b []byte) []byte { b[14] = 0x44; return b }), "ipv4", 14},
		{"truncated", base[:len(base)-3], "ipv4", 16},
		{"ip checksum", mod(func(b []byte) []byte { b[22]++; return b }), "ipv4", 24},
		{"tcp checksum", mod(func(b []byte) []byte { b[54] ^= 0xff; return b }), "tcp", 50},
		{"tcp data offset", mod(func(b []byte) []byte { b[46] = 0xf0; return b }), "tcp", 46},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pkt Packet
			err := NewParser().Parse(tc.frame, &pkt)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Layer != tc.layer || pe.Offset != tc.offset {
				t.Errorf("%v: want layer %s offset %d", err, tc.layer, tc.offset)
			}
			if !strings.Contains(err.Error(), "byte") {
				t.Errorf("error does not say where: %v", err)
			}
		})
	}
}

func TestParseOther(t *testing.T) {
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	var pkt Packet
	if err := NewParser().Parse(arp, &pkt); err != nil || pkt.Kind != KindOther {
		t.Errorf("ARP: kind %v err %v, want KindOther", pkt.Kind, err)
	}
	// Ethernet padding after the IP packet is not payload.
	f := append(validFrame(t), 0, 0, 0, 0)
	if err := NewParser().Parse(f, &pkt); err != nil || string(pkt.Payload) != "hello" {
		t.Errorf("padded frame: %q %v", pkt.Payload, err)
	}
}

func TestParseAllocs(t *testing.T) {
	f := validFrame(t)
	p := NewParser()
	var pkt Packet
	if n := testing.AllocsPerRun(100, func() { _ = p.Parse(f, &pkt) }); n != 0 {
		t.Errorf("Parse allocates %v times per frame", n)
	}
}

func BenchmarkParse(b *testing.B) {
	f := validFrame(b)
	p := NewParser()
	var pkt Packet
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := p.Parse(f, &pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	bl := NewBuilder()
	s := &Segment{Src: cli, Dst: srv, Seq: 1, Flags: ACK, Payload: make([]byte, 1448)}
	var out []byte
	for b.Loop() {
		out, _ = bl.Append(out[:0], s)
	}
}

func FuzzParse(f *testing.F) {
	good := validFrame(f)
	f.Add(good)
	f.Add(good[:30])
	f.Add([]byte{})
	b := bytes.Clone(good)
	b[14] = 0x4f
	f.Add(b)
	p := NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkt Packet
		err := p.Parse(data, &pkt)
		if err == nil && pkt.Kind == KindTCP {
			if len(pkt.Payload) > len(data) {
				t.Fatalf("payload longer than frame")
			}
			// A frame that parses also parses under gopacket's decoder.
			pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
			if pk.Layer(layers.LayerTypeTCP) == nil {
				t.Fatalf("accepted a frame gopacket cannot decode as TCP: %v", pk.ErrorLayer())
			}
		}
	})
}

// naiveChecksum is RFC 1071 word by word, the reference for checksum.
func naiveChecksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestChecksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff
			}
		}
		init := rng.Uint32() & 0x3ffff
		if got, want := checksum(b, init), naiveChecksum(b, init); got != want {
			t.Fatalf("len %d: checksum %04x, reference %04x", n, got, want)
		}
	}
}

func TestShiftSeqAck(t *testing.T) {
	f := validFrame(t)
	out, err := ShiftSeqAck(f, 100, 0xffffffff)
	if err != nil {
		t.Fatal(err)
	}
	var pk Packet
	if err := NewParser().Parse(out, &pk); err != nil {
		t.Fatalf("shifted frame does not parse (checksum?): %v", err)
	}
	verifyWithGopacket(t, out)
	if pk.Seq != 101 || pk.Ack != 1 || string(pk.Payload) != "hello" {
		t.Errorf("seq %d ack %d payload %q", pk.Seq, pk.Ack, pk.Payload)
	}
	if f[38] != 0 || f[41] != 1 {
		t.Error("the input frame was modified")
	}
	if _, err := ShiftSeqAck(f[:20], 1, 1); err == nil {
		t.Error("malformed frame accepted")
	}
}

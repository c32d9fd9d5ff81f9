package live

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
)

// TestPacketMatchesBuiltFrame: the parsed view the NIC offers without
// serializing is exactly what frame.Parser reads from the frame
// frame.Builder makes of the same segment (what a capture holds).
func TestPacketMatchesBuiltFrame(t *testing.T) {
	n := &NIC{}
	c := n.newConn(kindIngress, netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.2:9080"), true)
	c.server.relIn = 17
	b := frame.NewBuilder()
	p := frame.NewParser()
	for _, tc := range []struct {
		h       *half
		flags   frame.Flags
		payload string
	}{
		{c.client, frame.SYN, ""},
		{c.server, frame.SYN | frame.ACK, ""},
		{c.client, frame.ACK | frame.PSH, "GET / HTTP/1.1\r\n\r\n"},
		{c.client, frame.ACK | frame.PSH, strings.Repeat("x", mss)},
		{c.server, frame.ACK | frame.FIN, ""},
		{c.client, frame.ACK | frame.RST, ""},
	} {
		seq := tc.h.seqAt(5)
		want, length := tc.h.packet(seq, tc.flags, []byte(tc.payload))
		seg := frame.Segment{Src: want.Src, Dst: want.Dst, Seq: want.Seq, Ack: want.Ack, Flags: want.Flags, Window: want.Window, Payload: want.Payload}
		if tc.flags&frame.SYN != 0 {
			seg.MSS = mss
		}
		raw, err := b.Append(nil, &seg)
		if err != nil {
			t.Fatal(err)
		}
		var got frame.Packet
		if err := p.Parse(raw, &got); err != nil {
			t.Fatal(err)
		}
		if len(raw) != length {
			t.Errorf("%v: frame of %d bytes, the NIC charges %d", tc.flags, len(raw), length)
		}
		if len(got.Payload) == 0 {
			got.Payload = nil
		}
		if len(want.Payload) == 0 {
			want.Payload = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v:\nparsed %+v\noffered %+v", tc.flags, got, want)
		}
	}
}

// TestCuts: frames end at every message boundary, wherever the reads
// fall, and cutting stops (without error) when the stream is not HTTP.
func TestCuts(t *testing.T) {
	n := &NIC{}
	c := n.newConn(kindIngress, netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), true)
	reqs := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + "GET /c HTTP/1.1\r\n\r\n"
	want := []int{28, 28 + 44, len(reqs)}
	for split := 1; split < len(reqs); split++ {
		c.hf.Reset(httpframe.DefaultLimits)
		c.client.cut = cutter{}
		var got []int
		got = c.cuts(c.client, []byte(reqs[:split]), got)
		var rest []int
		rest = c.cuts(c.client, []byte(reqs[split:]), rest)
		for _, x := range rest {
			got = append(got, x+split)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("split at %d: cuts %v, want %v", split, got, want)
		}
	}
	if got := c.cuts(c.client, []byte("\x16\x03\x01 not http\r\n\r\n"), nil); len(got) != 0 || !c.client.cut.off {
		t.Errorf("non-HTTP stream cut at %v", got)
	}
}

// TestHist: quantiles are within the histogram's bucket width (6.25%).
func TestHist(t *testing.T) {
	var h hist
	r := rand.New(rand.NewPCG(1, 2))
	var v []time.Duration
	for i := 0; i < 10000; i++ {
		d := time.Duration(r.ExpFloat64() * 50e3) // mean 50 µs
		v = append(v, d)
		h.add(d)
	}
	slices.Sort(v)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := v[int(q*float64(len(v)))-1]
		got := h.quantile(q)
		if got < exact || float64(got) > float64(exact)*1.0625+1 {
			t.Errorf("q%.2f = %v, exact %v", q, got, exact)
		}
	}
	if h.quantile(1) != v[len(v)-1] || h.max != v[len(v)-1] {
		t.Errorf("max %v, want %v", h.quantile(1), v[len(v)-1])
	}
	if n := h.above(h.quantile(0.9)); n > 1000 || n < 800 {
		t.Errorf("%d above the 90th percentile of 10000", n)
	}
	for _, x := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 1000, 1 << 40, 1<<63 - 1} {
		i := histIndex(x)
		if i < histBuckets-1 && (uint64(histUpper(i)) < x || (i > 0 && uint64(histUpper(i-1)) >= x)) {
			t.Errorf("%d in bucket %d whose range ends at %d (previous %d)", x, i, histUpper(i), histUpper(i-1))
		}
	}
}

// TestTokenIn reads Connection-style lists.
func TestTokenIn(t *testing.T) {
	for _, c := range []struct {
		v, tok string
		want   bool
	}{
		{"close", "close", true},
		{"keep-alive, Close", "close", true},
		{" keep-alive ,\tUpgrade", "upgrade", true},
		{"closed", "close", false},
		{"", "close", false},
		{",,", "", true},
	} {
		if got := tokenIn([]byte(c.v), c.tok); got != c.want {
			t.Errorf("tokenIn(%q, %q) = %v", c.v, c.tok, got)
		}
	}
}

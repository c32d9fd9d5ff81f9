// Package synth makes synthetic captures of HTTP/1.1 traffic: real
// Ethernet/IPv4/TCP frames (built by nicsim/frame) with timestamps as a
// capture point beside a server would see them. Tests, benchmarks and the
// generator of nicsim/testdata use it, so they all replay the same kind of
// traffic.
package synth

import (
	"bytes"
	"fmt"

	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/model"
)

// Frame is one synthetic frame: when the capture saw it and who sent it.
type Frame struct {
	Time       model.Time
	Data       []byte
	FromClient bool
}

// Exchange is one request and its response on a connection.
type Exchange struct {
	Request, Response []byte
	// Think is the server's time between the request's last segment and
	// the response's first.
	Think model.Time
}

// Conn describes one connection: endpoints, MSS, when it starts, and its
// exchanges in order (keep-alive).
type Conn struct {
	Client, Server frame.Endpoint
	ClientISN      uint32
	ServerISN      uint32
	MSS            int
	Start          model.Time
	// RTT is the round trip between the capture point and the client.
	RTT       model.Time
	Exchanges []Exchange
}

// Gap spaces back-to-back segments of one burst (about a 1500 B frame at
// 10 Gb/s).
const Gap = 1200 * model.Nanosecond

// Build returns the frames of c in time order.
func (c Conn) Build() ([]Frame, error) {
	fc, err := frame.NewConn(c.Client, c.Server, c.ClientISN, c.ServerISN, c.MSS)
	if err != nil {
		return nil, err
	}
	var out []Frame
	t := c.Start
	emitAt := func(step model.Time) frame.Emit {
		return func(fromClient bool, f []byte) error {
			out = append(out, Frame{Time: t, Data: bytes.Clone(f), FromClient: fromClient})
			t += step
			return nil
		}
	}
	// SYN, then the server's SYN-ACK at once, the client's ACK an RTT later.
	if err := fc.Handshake(func(fromClient bool, f []byte) error {
		out = append(out, Frame{Time: t, Data: bytes.Clone(f), FromClient: fromClient})
		if fromClient {
			t += c.RTT
		} else {
			t += Gap
		}
		return nil
	}); err != nil {
		return nil, err
	}
	t -= c.RTT // the request leaves the client right after its ACK
	for _, x := range c.Exchanges {
		t += Gap
		if err := fc.Send(true, x.Request, emitAt(Gap)); err != nil {
			return nil, err
		}
		t += x.Think
		if err := fc.Send(false, x.Response, emitAt(Gap)); err != nil {
			return nil, err
		}
		t += c.RTT
		if err := fc.Ack(true, emitAt(Gap)); err != nil {
			return nil, err
		}
	}
	if err := fc.Close(true, emitAt(Gap)); err != nil {
		return nil, err
	}
	if err := fc.Close(false, emitAt(c.RTT)); err != nil {
		return nil, err
	}
	if err := fc.Ack(true, emitAt(Gap)); err != nil {
		return nil, err
	}
	return out, nil
}

// Merge interleaves the frames of several connections by time (stable:
// equal times keep connection order).
func Merge(conns ...[]Frame) []Frame {
	var all []Frame
	for _, c := range conns {
		all = append(all, c...)
	}
	// insertion-stable merge by time
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].Time < all[j-1].Time; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	return all
}

// Endpoint returns a test endpoint 10.0.0.n:port with a locally
// administered MAC.
func Endpoint(n byte, port uint16) frame.Endpoint {
	return frame.Endpoint{MAC: [6]byte{0x02, 0, 0, 0, 0, n}, IP: [4]byte{10, 0, 0, n}, Port: port}
}

// Request returns a GET request for path with a Host header.
func Request(path string) []byte {
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: nic.test\r\nUser-Agent: nicrt-synth\r\nAccept: */*\r\n\r\n", path)
}

// Response returns a 200 response with a body of n bytes.
func Response(n int) []byte {
	body := bytes.Repeat([]byte("nicrt "), n/6+1)[:n]
	return append(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", n), body...)
}

// ChunkedResponse returns a 200 response whose body of n bytes is sent in
// chunks of at most chunk bytes.
func ChunkedResponse(n, chunk int) []byte {
	b := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
	for n > 0 {
		k := min(n, chunk)
		b = fmt.Appendf(b, "%x\r\n%s\r\n", k, bytes.Repeat([]byte("c"), k))
		n -= k
	}
	return append(b, "0\r\n\r\n"...)
}

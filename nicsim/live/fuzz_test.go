package live

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzStream sends arbitrary bytes (HTTP or not, well-formed or not)
// through an ingress NIC and checks that the service reads exactly them:
// the NIC cuts, frames and simulates what it is given, and whatever its
// framers make of it (messages, framing errors, tunnels), nothing is lost,
// reordered or invented, and nothing panics.
func FuzzStream(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"CONNECT x:443 HTTP/1.1\r\n\r\n\x16\x03\x01binary",
		"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"\x00\x01\x02 not http at all \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n", // an unfinished head, then EOF
	} {
		f.Add([]byte(seed), uint8(0))
	}
	n, err := New(Options{Model: testModel(f, "testdata/zero.yaml")})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	ln := listen(f)
	l := n.Listener(ln)
	defer l.Close()
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Close()
		go func() {
			k := min(int(split), len(data))
			c.Write(data[:k]) // two writes: reads split where the fuzzer says
			time.Sleep(time.Millisecond)
			c.Write(data[k:])
			c.(*net.TCPConn).CloseWrite()
		}()
		hc.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(hc)
		if err != nil {
			t.Fatalf("reading through the NIC: %v (got %d of %d bytes)", err, len(got), len(data))
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("the service read %q, the client sent %q", got, data)
		}
	})
}

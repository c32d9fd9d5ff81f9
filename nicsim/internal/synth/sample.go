package synth

import (
	"bytes"

	"github.com/nicrt/nicrt/nicsim/model"
)

// Sample is the traffic of nicsim/testdata/http.pcap, as a capture beside
// the server 10.0.0.1:8080 sees it: three connections from three clients,
// keep-alive exchanges with Content-Length, chunked and HEAD responses, a
// multi-segment POST answered 204, and one response whose segments arrive
// out of order with a retransmission.
func Sample() ([]Frame, error) {
	srv := Endpoint(1, 8080)
	post := []byte("POST /reviews/0 HTTP/1.1\r\nHost: reviews:9080\r\nContent-Type: application/json\r\nContent-Length: 2600\r\n\r\n")
	post = append(post, bytes.Repeat([]byte(`{"stars":5}`), 2600/11+1)[:2600]...)
	conns := []Conn{
		{Client: Endpoint(2, 40002), Server: srv, ClientISN: 0x1000, ServerISN: 0x9000, MSS: 1460,
			Start: 0, RTT: 60 * model.Microsecond, Exchanges: []Exchange{
				{Request: Request("/productpage"), Response: Response(4000), Think: 150 * model.Microsecond},
				{Request: Request("/static/bootstrap.css"), Response: ChunkedResponse(3000, 1024), Think: 40 * model.Microsecond},
				{Request: []byte("HEAD /health HTTP/1.1\r\nHost: nic.test\r\n\r\n"),
					Response: []byte("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), Think: 10 * model.Microsecond},
			}},
		{Client: Endpoint(3, 40003), Server: srv, ClientISN: 0xfffff000, ServerISN: 0x7000, MSS: 1460,
			Start: 80 * model.Microsecond, RTT: 45 * model.Microsecond, Exchanges: []Exchange{
				{Request: post, Response: []byte("HTTP/1.1 204 No Content\r\n\r\n"), Think: 90 * model.Microsecond},
			}},
		{Client: Endpoint(4, 40004), Server: srv, ClientISN: 0x4000, ServerISN: 0xfffffe00, MSS: 1000,
			Start: 200 * model.Microsecond, RTT: 70 * model.Microsecond, Exchanges: []Exchange{
				{Request: Request("/details/0"), Response: Response(2500), Think: 60 * model.Microsecond},
			}},
	}
	var all [][]Frame
	for k, c := range conns {
		fs, err := c.Build()
		if err != nil {
			return nil, err
		}
		if k == 2 {
			fs = disorder(fs)
		}
		all = append(all, fs)
	}
	return Merge(all...), nil
}

// disorder makes the response's first two data segments arrive swapped and
// retransmits the first one after them (its original is kept too), keeping
// the capture's timestamps increasing.
func disorder(fs []Frame) []Frame {
	var resp []int
	for i, f := range fs {
		if !f.FromClient && len(f.Data) > 200 {
			resp = append(resp, i)
		}
	}
	if len(resp) < 2 {
		return fs
	}
	a, b := resp[0], resp[1]
	fs[a].Data, fs[b].Data = fs[b].Data, fs[a].Data
	dup := Frame{Time: fs[b].Time + Gap/2, Data: bytes.Clone(fs[b].Data), FromClient: false}
	out := append([]Frame{}, fs[:b+1]...)
	out = append(out, dup)
	return append(out, fs[b+1:]...)
}

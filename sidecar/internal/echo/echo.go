// Package echo is a small, fast HTTP/1.1 echo server for the sidecar's
// benchmarks and process tests: it answers every request with its body
// (and a fixed text when there is none), keep-alive, and stamps its name in
// an x-upstream field; the request's path and routing header come back as
// x-request-path and x-upstream-cluster. It is built on the sidecar's codec so the upstream
// side of a benchmark costs as little as possible and the proxy is what is
// measured.
package echo

import (
	"errors"
	"io"
	"net"
	"sync"

	"github.com/nicrt/nicrt/runtime"
	"github.com/nicrt/nicrt/sidecar/internal/h1"
)

// Server is a running echo server.
type Server struct {
	Name string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cs   map[net.Conn]struct{}
}

// Listen starts an echo server on addr (e.g. 127.0.0.1:0).
func Listen(addr, name string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, ln: ln, cs: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.cs {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.cs[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.cs, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

var defaultBody = []byte("echo\n")

func (s *Server) serve(c net.Conn) {
	r := h1.NewReader(c, 16<<10, 1<<20)
	var h h1.Head
	var f runtime.Fields
	var b h1.Body
	var body, out []byte
	hdr := runtime.Fields{{Name: "x-upstream", Value: s.Name}}
	for {
		head, err := r.ReadHead(64 << 10)
		if err != nil {
			return
		}
		f = f[:0]
		if err := h1.ParseRequest(head, h1.Limits{MaxFields: 200}, &h, &f); err != nil {
			var he *h1.Error
			status := 400
			if errors.As(err, &he) {
				status = he.Status
			}
			out, _ = h1.AppendResponseHead(out[:0], status, nil, h1.Length, 0, h1.ConnClose)
			c.Write(out)
			return
		}
		b.Init(r, h.Framing, h.ContentLength, 64<<10)
		body = body[:0]
		for {
			p, err := b.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			body = append(body, p...)
		}
		if len(body) == 0 && h.Framing == h1.NoBody {
			body = append(body, defaultBody...)
		}
		conn := h1.ConnDefault
		if h.Close {
			conn = h1.ConnClose
		}
		hdr = append(hdr[:1], runtime.Field{Name: "x-request-path", Value: h.Path})
		if v, ok := f.Get(runtime.DefaultRouteHeader); ok {
			hdr = append(hdr, runtime.Field{Name: "x-upstream-cluster", Value: v})
		}
		out, _ = h1.AppendResponseHead(out[:0], 200, hdr, h1.Length, int64(len(body)), conn)
		if h.Method != "HEAD" {
			out = append(out, body...)
		}
		if _, err := c.Write(out); err != nil || h.Close {
			return
		}
	}
}

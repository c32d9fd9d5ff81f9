package bookinfo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxUpstreamBody bounds how much of an upstream answer is read; Bookinfo's
// bodies are well under 1 KiB, so more means something is wrong upstream.
const maxUpstreamBody = 1 << 20

// defaultUserAgent is what Go's client sends when no user-agent is propagated;
// the one-shot path sends the same so both paths look alike on the wire.
const defaultUserAgent = "Go-http-client/1.1"

// dialFunc opens a TCP connection to a logical address such as "reviews:9080".
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func dialerOf(cfg Config) dialFunc {
	if cfg.DialContext != nil {
		return cfg.DialContext
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	return d.DialContext
}

// upstreamClient sends Bookinfo's service-to-service GET requests. Without a
// pool it opens a new TCP connection for every call and closes it after the
// answer, as the original productpage (Python requests without a Session)
// does; with one it keeps connections alive like the original reviews' Java
// client.
type upstreamClient struct {
	dial   dialFunc
	pooled *http.Transport // nil: one connection per call
}

func newUpstreamClient(dial dialFunc, pool bool) *upstreamClient {
	c := &upstreamClient{dial: dial}
	if pool {
		c.pooled = &http.Transport{
			DialContext:         dial,
			Proxy:               nil, // upstreams are reached directly (or via DialContext), never via $HTTP_PROXY
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	return c
}

// get fetches http://addr/path with the given header lines, appends the body
// to body and returns the status. The whole exchange (connect, request,
// response) must finish within timeout; ctx ending aborts it too.
func (c *upstreamClient) get(ctx context.Context, addr, path string, hdr []kv, timeout time.Duration, body *bytes.Buffer) (int, error) {
	if c.pooled != nil {
		return c.getPooled(ctx, addr, path, hdr, timeout, body)
	}
	return c.getOnce(ctx, addr, path, hdr, timeout, body)
}

// callBuf is the per-call scratch of the one-shot path, pooled so a call
// allocates little beyond what net/http's response parser needs.
type callBuf struct {
	w []byte
	r *bufio.Reader
}

var callBufs = sync.Pool{New: func() any {
	return &callBuf{w: make([]byte, 0, 1024), r: bufio.NewReaderSize(nil, 4096)}
}}

var errBodyTooLarge = fmt.Errorf("upstream body larger than %d bytes", maxUpstreamBody)

// pastDeadline makes every pending read or write on a connection fail now.
var pastDeadline = time.Unix(1, 0)

func (c *upstreamClient) getOnce(ctx context.Context, addr, path string, hdr []kv, timeout time.Duration, body *bytes.Buffer) (int, error) {
	deadline := time.Now().Add(timeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := c.dial(dctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(pastDeadline) })
	defer stop()

	cb := callBufs.Get().(*callBuf)
	defer func() {
		cb.r.Reset(nil)
		callBufs.Put(cb)
	}()
	cb.w = appendGetRequest(cb.w[:0], addr, path, hdr)
	if _, err := conn.Write(cb.w); err != nil {
		return 0, err
	}
	cb.r.Reset(conn)
	resp, err := http.ReadResponse(cb.r, nil)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(cb.r, nil) // skip interim answers
	}
	return finish(resp, err, body)
}

func (c *upstreamClient) getPooled(ctx context.Context, addr, path string, hdr []kv, timeout time.Duration, body *bytes.Buffer) (int, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, err
	}
	ua := false
	for _, h := range hdr {
		if !validHeaderValue(h.value) {
			continue
		}
		ua = ua || h.name == "User-Agent"
		req.Header[h.name] = append(req.Header[h.name], h.value)
	}
	if !ua {
		req.Header["User-Agent"] = []string{defaultUserAgent}
	}
	resp, err := c.pooled.RoundTrip(req)
	return finish(resp, err, body)
}

// finish reads a response's body (at most maxUpstreamBody bytes) into body
// and returns its status.
func finish(resp *http.Response, err error, body *bytes.Buffer) (int, error) {
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := body.ReadFrom(io.LimitReader(resp.Body, maxUpstreamBody+1))
	if err != nil {
		return 0, err
	}
	if n > maxUpstreamBody {
		return 0, errBodyTooLarge
	}
	return resp.StatusCode, nil
}

// appendGetRequest writes an HTTP/1.1 GET request head. Header values that
// could split the line are dropped rather than sent.
func appendGetRequest(dst []byte, addr, path string, hdr []kv) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, addr...)
	dst = append(dst, "\r\n"...)
	ua := false
	for _, h := range hdr {
		if !validHeaderValue(h.value) {
			continue
		}
		ua = ua || h.name == "User-Agent"
		dst = append(dst, h.name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.value...)
		dst = append(dst, "\r\n"...)
	}
	if !ua {
		dst = append(dst, "User-Agent: "+defaultUserAgent+"\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// close releases pooled connections.
func (c *upstreamClient) close() {
	if c.pooled != nil {
		c.pooled.CloseIdleConnections()
	}
}

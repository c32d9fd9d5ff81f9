package sidecar

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one line per request in Envoy's default access log
// format, extended with the cluster and nicrt's response details:
//
//	[START] "METHOD PATH PROTOCOL" STATUS DETAILS BYTES_IN BYTES_OUT DURATION_MS
//	UPSTREAM_SERVICE_TIME_MS "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID"
//	"AUTHORITY" "UPSTREAM_HOST" CLUSTER
//
// It is off by default (and in benchmarks): lines are buffered and flushed
// every second and at shutdown.
type accessLog struct {
	mu  sync.Mutex
	w   *bufio.Writer
	c   io.Closer
	buf []byte
}

func openAccessLog(path string) (*accessLog, error) {
	if path == "-" {
		return &accessLog{w: bufio.NewWriterSize(os.Stdout, 64<<10)}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &accessLog{w: bufio.NewWriterSize(f, 64<<10), c: f}, nil
}

func quoted(b []byte, s string) []byte {
	if s == "" {
		s = "-"
	}
	return strconv.AppendQuote(b, s)
}

func (a *accessLog) log(c *dconn) {
	r := &c.rec
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buf[:0]
	b = append(b, '[')
	b = r.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, "] \""...)
	method, path := c.req.Method, c.req.Path
	if method == "" {
		method, path = "-", "-"
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1."...)
	b = strconv.AppendInt(b, int64(c.req.Minor), 10)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, ' ')
	if r.details == "" {
		b = append(b, "via_upstream"...)
	} else {
		b = append(b, r.details...)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.bytesIn, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.bytesOut, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(time.Since(r.start)/time.Millisecond), 10)
	b = append(b, ' ')
	if r.upstreamRq && r.status != 0 && r.details == "" {
		b = strconv.AppendInt(b, int64(r.svcTime/time.Millisecond), 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = quoted(b, c.reqF.Value("x-forwarded-for"))
	b = append(b, ' ')
	b = quoted(b, c.reqF.Value("user-agent"))
	b = append(b, ' ')
	b = quoted(b, c.reqF.Value("x-request-id"))
	b = append(b, ' ')
	b = quoted(b, c.req.Authority)
	b = append(b, ' ')
	b = quoted(b, r.upstream)
	b = append(b, ' ')
	if r.cluster != nil {
		b = append(b, r.cluster.name...)
	} else {
		b = append(b, '-')
	}
	b = append(b, '\n')
	a.buf = b
	a.w.Write(b)
}

func (a *accessLog) flush() {
	a.mu.Lock()
	a.w.Flush()
	a.mu.Unlock()
}

func (a *accessLog) close() {
	a.flush()
	if a.c != nil {
		a.c.Close()
	}
}

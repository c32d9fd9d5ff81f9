package runtime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// callResponse is what proxy_on_http_call_response lets the guest read.
type callResponse struct {
	headers  Fields // incl. ":status"; empty when the call failed
	trailers Fields
	body     []byte
	status   int
	message  string
}

// maxCallResponseBody bounds how much of an HTTP call response the host
// buffers for the guest.
const maxCallResponseBody = 4 << 20

func (v *vm) proxyHTTPCall(st []uint64) abi.Status {
	up, ok1 := v.read(u32(st, 0), u32(st, 1))
	hb, ok2 := v.read(u32(st, 2), u32(st, 3))
	body, ok3 := v.read(u32(st, 4), u32(st, 5))
	tb, ok4 := v.read(u32(st, 6), u32(st, 7))
	_, ok5 := v.mem.Read(u32(st, 9), 4)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return abi.StatusInvalidMemoryAccess
	}
	hdrs, err := decodeFields(hb)
	if err != nil {
		v.warnOnce("proxy_http_call", "proxy_http_call: malformed headers: "+err.Error())
		return abi.StatusBadArgument
	}
	trailers, err := decodeFields(tb)
	if err != nil {
		return abi.StatusBadArgument
	}
	method, path, authority := hdrs.Value(":method"), hdrs.Value(":path"), hdrs.Value(":authority")
	if method == "" || path == "" || authority == "" {
		return abi.StatusBadArgument
	}
	cluster := string(up)
	h := v.p.host
	if h.cfg.Clusters == nil {
		v.warnOnce("proxy_http_call:"+cluster, fmt.Sprintf("proxy_http_call to %q: this data plane has no clusters for HTTP calls", cluster))
		return abi.StatusBadArgument
	}
	addr, ok := h.cfg.Clusters(cluster)
	if !ok {
		v.warnOnce("proxy_http_call:"+cluster, fmt.Sprintf("proxy_http_call: unknown cluster %q", cluster))
		return abi.StatusBadArgument
	}
	scheme := hdrs.Value(":scheme")
	if scheme == "" {
		scheme = "http"
	}
	timeout := time.Duration(u32(st, 8)) * time.Millisecond
	if timeout == 0 {
		timeout = DefaultHTTPCallTimeout
	}
	req, err := http.NewRequest(method, scheme+"://"+addr+path, bytes.NewReader(append([]byte(nil), body...)))
	if err != nil {
		return abi.StatusBadArgument
	}
	req.Host = authority
	for _, f := range hdrs {
		if len(f.Name) > 0 && f.Name[0] != ':' {
			req.Header.Add(f.Name, f.Value)
		}
	}
	if len(trailers) > 0 {
		req.Trailer = http.Header{}
		for _, f := range trailers {
			req.Trailer.Add(f.Name, f.Value)
		}
	}
	v.nextCall++
	token := v.nextCall
	v.mem.WriteUint32Le(u32(st, 9), token)
	go v.doHTTPCall(req, token, timeout)
	return abi.StatusOK
}

// doHTTPCall performs a callout and delivers the result to the VM's root
// context, where the guest's SDK routes it to the context that made it.
func (v *vm) doHTTPCall(req *http.Request, token uint32, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cr := &callResponse{}
	resp, err := v.p.host.client.Do(req.WithContext(ctx))
	if err != nil {
		cr.message = err.Error()
	} else {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxCallResponseBody+1))
		resp.Body.Close()
		switch {
		case rerr != nil:
			cr.message = rerr.Error()
		case len(b) > maxCallResponseBody:
			cr.message = fmt.Sprintf("response body exceeds %d bytes", maxCallResponseBody)
		default:
			cr.status = resp.StatusCode
			cr.body = b
			cr.headers = append(cr.headers, Field{":status", strconv.Itoa(resp.StatusCode)})
			for k, vs := range resp.Header {
				lk := lower(k)
				for _, x := range vs {
					cr.headers = append(cr.headers, Field{lk, x})
				}
			}
			for k, vs := range resp.Trailer {
				lk := lower(k)
				for _, x := range vs {
					cr.trailers = append(cr.trailers, Field{lk, x})
				}
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dead.Load() {
		return
	}
	v.cur, v.callResp = nil, cr
	_, _ = v.call(cbHTTPCallResponse, v.p.host.cfg.CallDeadline, 0,
		uint64(v.rootID), uint64(token), uint64(len(cr.headers)), uint64(len(cr.body)), uint64(len(cr.trailers)))
	v.cur, v.callResp = nil, nil
}

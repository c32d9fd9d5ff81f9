package sidecar

import (
	"bufio"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// listenerStats are a listener's counters, exposed under Envoy's
// http_connection_manager names (envoy_http_*, labelled with the listener
// name as envoy_http_conn_manager_prefix) so dashboards written for Envoy
// read them.
type listenerStats struct {
	cxTotal, cxActive, cxProtocolError, cxIdleTimeout atomic.Int64
	rqTotal, rqActive, rqHeaderTimeout, rqTimeout     atomic.Int64
	noRoute, noCluster, rqReset, localReplies         atomic.Int64
	rxBytes, txBytes                                  atomic.Int64
	rqXX                                              [6]atomic.Int64 // by status class; 0 = none
	rqTime                                            histogram
	wasmFailClosed, wasmLocalReplies                  atomic.Int64
}

// clusterStats are a cluster's counters under Envoy's cluster names
// (envoy_cluster_*, labelled envoy_cluster_name).
type clusterStats struct {
	cxTotal, cxActive, cxConnectFail, cxConnectTimeout, cxDestroy atomic.Int64
	cxProtocolError                                               atomic.Int64
	rqTotal, rqActive, rqTimeout, rqRetry, rqReset                atomic.Int64
	rqXX                                                          [6]atomic.Int64
}

// histogram counts durations in Envoy's default buckets (milliseconds).
type histogram struct {
	buckets [len(histBounds) + 1]atomic.Int64
	sumUS   atomic.Int64
	count   atomic.Int64
}

// histBounds are Envoy's default histogram bucket bounds, in milliseconds.
var histBounds = [...]float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

func (h *histogram) observe(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	for i < len(histBounds) && ms > histBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumUS.Add(int64(d / time.Microsecond))
	h.count.Add(1)
}

func class(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// promWriter writes Prometheus text exposition lines.
type promWriter struct {
	w    *bufio.Writer
	seen map[string]bool
}

func newPromWriter(w io.Writer) *promWriter {
	return &promWriter{w: bufio.NewWriter(w), seen: map[string]bool{}}
}

func (p *promWriter) typ(name, t string) {
	if !p.seen[name] {
		p.seen[name] = true
		p.w.WriteString("# TYPE " + name + " " + t + "\n")
	}
}

func (p *promWriter) value(name, t, labels string, v int64) {
	p.typ(name, t)
	p.w.WriteString(name)
	if labels != "" {
		p.w.WriteString("{" + labels + "}")
	}
	p.w.WriteByte(' ')
	p.w.WriteString(strconv.FormatInt(v, 10))
	p.w.WriteByte('\n')
}

func (p *promWriter) histogram(name, labels string, h *histogram) {
	p.typ(name, "histogram")
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum int64
	for i, b := range histBounds {
		cum += h.buckets[i].Load()
		p.w.WriteString(name + "_bucket{" + labels + sep + `le="` + strconv.FormatFloat(b, 'f', -1, 64) + `"} ` + strconv.FormatInt(cum, 10) + "\n")
	}
	cum += h.buckets[len(histBounds)].Load()
	p.w.WriteString(name + "_bucket{" + labels + sep + `le="+Inf"} ` + strconv.FormatInt(cum, 10) + "\n")
	lb := ""
	if labels != "" {
		lb = "{" + labels + "}"
	}
	p.w.WriteString(name + "_sum" + lb + " " + strconv.FormatFloat(float64(h.sumUS.Load())/1000, 'f', 3, 64) + "\n")
	p.w.WriteString(name + "_count" + lb + " " + strconv.FormatInt(h.count.Load(), 10) + "\n")
}

// writeStats writes the sidecar's own stats, family by family (the text
// format wants each family's samples together).
func (s *Sidecar) writeStats(w io.Writer) error {
	p := newPromWriter(w)
	p.value("envoy_server_live", "gauge", "", b2i(!s.draining.Load()))
	p.value("envoy_server_uptime", "gauge", "", int64(time.Since(s.started)/time.Second))
	type lstat struct {
		name, typ string
		v         func(*listenerStats) *atomic.Int64
	}
	for _, m := range []lstat{
		{"envoy_http_downstream_cx_total", "counter", func(s *listenerStats) *atomic.Int64 { return &s.cxTotal }},
		{"envoy_http_downstream_cx_active", "gauge", func(s *listenerStats) *atomic.Int64 { return &s.cxActive }},
		{"envoy_http_downstream_cx_protocol_error", "counter", func(s *listenerStats) *atomic.Int64 { return &s.cxProtocolError }},
		{"envoy_http_downstream_cx_idle_timeout", "counter", func(s *listenerStats) *atomic.Int64 { return &s.cxIdleTimeout }},
		{"envoy_http_downstream_cx_rx_bytes_total", "counter", func(s *listenerStats) *atomic.Int64 { return &s.rxBytes }},
		{"envoy_http_downstream_cx_tx_bytes_total", "counter", func(s *listenerStats) *atomic.Int64 { return &s.txBytes }},
		{"envoy_http_downstream_rq_total", "counter", func(s *listenerStats) *atomic.Int64 { return &s.rqTotal }},
		{"envoy_http_downstream_rq_active", "gauge", func(s *listenerStats) *atomic.Int64 { return &s.rqActive }},
		{"envoy_http_downstream_rq_header_timeout", "counter", func(s *listenerStats) *atomic.Int64 { return &s.rqHeaderTimeout }},
		{"envoy_http_downstream_rq_timeout", "counter", func(s *listenerStats) *atomic.Int64 { return &s.rqTimeout }},
		{"envoy_http_downstream_rq_rx_reset", "counter", func(s *listenerStats) *atomic.Int64 { return &s.rqReset }},
		{"envoy_http_no_route", "counter", func(s *listenerStats) *atomic.Int64 { return &s.noRoute }},
		{"envoy_http_no_cluster", "counter", func(s *listenerStats) *atomic.Int64 { return &s.noCluster }},
		{"envoy_http_local_replies", "counter", func(s *listenerStats) *atomic.Int64 { return &s.localReplies }},
		{"envoy_http_wasm_fail_closed", "counter", func(s *listenerStats) *atomic.Int64 { return &s.wasmFailClosed }},
		{"envoy_http_wasm_local_replies", "counter", func(s *listenerStats) *atomic.Int64 { return &s.wasmLocalReplies }},
	} {
		for _, l := range s.listeners {
			p.value(m.name, m.typ, l.label, m.v(&l.stats).Load())
		}
	}
	for _, l := range s.listeners {
		for c := 1; c <= 5; c++ {
			p.value("envoy_http_downstream_rq_xx", "counter", l.label+`,envoy_response_code_class="`+strconv.Itoa(c)+`"`, l.stats.rqXX[c].Load())
		}
	}
	for _, l := range s.listeners {
		p.histogram("envoy_http_downstream_rq_time", l.label, &l.stats.rqTime)
	}
	type cstat struct {
		name, typ string
		v         func(*clusterStats) *atomic.Int64
	}
	for _, m := range []cstat{
		{"envoy_cluster_upstream_cx_total", "counter", func(s *clusterStats) *atomic.Int64 { return &s.cxTotal }},
		{"envoy_cluster_upstream_cx_active", "gauge", func(s *clusterStats) *atomic.Int64 { return &s.cxActive }},
		{"envoy_cluster_upstream_cx_connect_fail", "counter", func(s *clusterStats) *atomic.Int64 { return &s.cxConnectFail }},
		{"envoy_cluster_upstream_cx_connect_timeout", "counter", func(s *clusterStats) *atomic.Int64 { return &s.cxConnectTimeout }},
		{"envoy_cluster_upstream_cx_destroy", "counter", func(s *clusterStats) *atomic.Int64 { return &s.cxDestroy }},
		{"envoy_cluster_upstream_cx_protocol_error", "counter", func(s *clusterStats) *atomic.Int64 { return &s.cxProtocolError }},
		{"envoy_cluster_upstream_rq_total", "counter", func(s *clusterStats) *atomic.Int64 { return &s.rqTotal }},
		{"envoy_cluster_upstream_rq_active", "gauge", func(s *clusterStats) *atomic.Int64 { return &s.rqActive }},
		{"envoy_cluster_upstream_rq_timeout", "counter", func(s *clusterStats) *atomic.Int64 { return &s.rqTimeout }},
		{"envoy_cluster_upstream_rq_retry", "counter", func(s *clusterStats) *atomic.Int64 { return &s.rqRetry }},
		{"envoy_cluster_upstream_rq_rx_reset", "counter", func(s *clusterStats) *atomic.Int64 { return &s.rqReset }},
	} {
		for _, c := range s.clusterList {
			p.value(m.name, m.typ, c.label, m.v(&c.stats).Load())
		}
	}
	for _, c := range s.clusterList {
		for k := 1; k <= 5; k++ {
			p.value("envoy_cluster_upstream_rq_xx", "counter", c.label+`,envoy_response_code_class="`+strconv.Itoa(k)+`"`, c.stats.rqXX[k].Load())
		}
	}
	return p.w.Flush()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

package sidecar

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const basicConfig = `
admin: {disabled: true}
listeners:
  - name: inbound
    address: 127.0.0.1:0
    cluster: app
clusters:
  - name: app
    endpoints: [$APP]
`

func TestProxyForwards(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig, "$APP", app.addr())
	c := client(t)
	for i := 0; i < 3; i++ {
		r := do(t, c, "GET", s.url("inbound", "/info?x=1"), nil, "Host", "productpage:9080", "User-Agent", "t", "Connection", "keep-alive, x-hop", "x-hop", "secret")
		must(t, r.status == 200, "status %d: %s", r.status, r.body)
		got := r.seen(t)
		must(t, got.Path == "/info?x=1" && got.Host == "productpage:9080" && got.Method == "GET", "request as seen: %+v", got)
		must(t, got.Headers["x-forwarded-for"] == "127.0.0.1", "x-forwarded-for %q", got.Headers["x-forwarded-for"])
		must(t, got.Headers["x-forwarded-proto"] == "http", "x-forwarded-proto %q", got.Headers["x-forwarded-proto"])
		must(t, len(got.Headers["x-request-id"]) == 36, "x-request-id %q", got.Headers["x-request-id"])
		must(t, got.Headers["x-hop"] == "", "hop-by-hop field listed in Connection was forwarded")
		must(t, r.header.Get("server") == "nicrt", "server %q", r.header.Get("server"))
		must(t, r.header.Get("x-envoy-upstream-service-time") != "", "no x-envoy-upstream-service-time")
		must(t, r.header.Get("x-upstream") == "app", "response fields lost")
	}
	must(t, app.conns.Load() == 1, "upstream saw %d connections for 3 requests; want 1 (keep-alive pool)", app.conns.Load())

	// A request id and x-forwarded-for from downstream are kept / appended.
	r := do(t, c, "GET", s.url("inbound", "/info"), nil, "x-request-id", "abc", "x-forwarded-for", "10.0.0.1")
	got := r.seen(t)
	must(t, got.Headers["x-request-id"] == "abc", "x-request-id replaced: %q", got.Headers["x-request-id"])
	must(t, got.Headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1", "x-forwarded-for %q", got.Headers["x-forwarded-for"])
}

func TestProxyRoutes(t *testing.T) {
	a, b, d, def := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "d"), newUpstream(t, "def")
	s := startSidecar(t, `
admin: {disabled: true}
listeners:
  - name: outbound
    direction: outbound
    address: 127.0.0.1:0
    routes:
      - {hosts: [reviews, Reviews.default.svc], cluster: a}
      - {hosts: ["*.svc.local"], cluster: b}
      - {hosts: ["*.local"], cluster: d}
  - name: trusting
    address: 127.0.0.1:0
    cluster: def
    trust_route_header: true
clusters:
  - {name: a, endpoints: [$A]}
  - {name: b, endpoints: [$B]}
  - {name: d, endpoints: [$D]}
  - {name: def, endpoints: [$Z]}
`, "$A", a.addr(), "$B", b.addr(), "$D", d.addr(), "$Z", def.addr())
	c := client(t)
	for _, tc := range []struct {
		listener, host string
		hdr            []string
		status         int
		upstream       string
		details        string
	}{
		{"outbound", "reviews:9080", nil, 200, "a", ""},
		{"outbound", "REVIEWS", nil, 200, "a", ""},
		{"outbound", "reviews.default.svc:80", nil, 200, "a", ""},
		{"outbound", "x.svc.local", nil, 200, "b", ""},
		{"outbound", "x.y.local:1", nil, 200, "d", ""},
		{"outbound", "ratings:9080", nil, 404, "", "route_not_found"},
		// The routing header from downstream is removed on untrusting
		// listeners: only filters choose clusters there.
		{"outbound", "reviews", []string{"x-nicrt-cluster", "b"}, 200, "a", ""},
		{"trusting", "anything", nil, 200, "def", ""},
		{"trusting", "anything", []string{"x-nicrt-cluster", "b"}, 200, "b", ""},
		{"trusting", "anything", []string{"x-nicrt-cluster", "nope"}, 503, "", "cluster_not_found"},
	} {
		hdr := append([]string{"Host", tc.host}, tc.hdr...)
		r := do(t, c, "GET", s.url(tc.listener, "/info"), nil, hdr...)
		if r.status != tc.status || r.header.Get("x-upstream") != tc.upstream || r.details() != tc.details {
			t.Errorf("%s host %s %v: status %d upstream %q details %q; want %d %q %q", tc.listener, tc.host, tc.hdr,
				r.status, r.header.Get("x-upstream"), r.details(), tc.status, tc.upstream, tc.details)
		}
	}
}

func TestRoundRobinEndpoints(t *testing.T) {
	ups := []*upstream{newUpstream(t, "e0"), newUpstream(t, "e1"), newUpstream(t, "e2")}
	s := startSidecar(t, basicConfig, "$APP", ups[0].addr()+", "+ups[1].addr()+", "+ups[2].addr())
	c := client(t)
	count := map[string]int{}
	for i := 0; i < 30; i++ {
		count[do(t, c, "GET", s.url("inbound", "/info"), nil).header.Get("x-upstream")]++
	}
	for _, u := range ups {
		must(t, count[u.name] == 10, "round robin: %v", count)
	}
}

func TestFilterSetsCluster(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	s := startSidecar(t, `
admin: {disabled: true}
listeners:
  - name: outbound
    address: 127.0.0.1:0
    cluster: a
    filters:
      - name: stamp
        wasm: $STAMP
        configuration: "cluster=b;stamp=s1"
clusters:
  - {name: a, endpoints: [$A]}
  - {name: b, endpoints: [$B]}
`, "$A", a.addr(), "$B", b.addr(), "$STAMP", stampGuest(t))
	r := do(t, client(t), "GET", s.url("outbound", "/info"), nil, "x-nicrt-cluster", "a")
	must(t, r.status == 200, "status %d %s", r.status, r.body)
	got := r.seen(t)
	must(t, got.Upstream == "b", "went to %s; the filter chose b", got.Upstream)
	must(t, got.Headers["x-nicrt-cluster"] == "b", "routing header forwarded as %q", got.Headers["x-nicrt-cluster"])
	must(t, got.Headers["x-stamp"] == "s1" && r.header.Get("x-stamp-resp") == "s1", "filter edits lost: %v / %v", got.Headers, r.header)
}

func TestBodies(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig, "$APP", app.addr())
	c := client(t)
	big := strings.Repeat("x", 3<<20)
	for _, tc := range []struct {
		name string
		body io.Reader
		n    int
	}{
		{"small", strings.NewReader("hello"), 5},
		{"1KB", strings.NewReader(strings.Repeat("a", 1024)), 1024},
		{"3MB streamed", strings.NewReader(big), len(big)},
		{"chunked", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, "POST", s.url("inbound", "/echo"), tc.body)
			must(t, r.status == 200 && len(r.body) == tc.n, "status %d, %d bytes echoed, want %d", r.status, len(r.body), tc.n)
		})
	}
	// Large response bodies stream through.
	r := do(t, c, "GET", s.url("inbound", "/big?n=5000000"), nil)
	must(t, r.status == 200 && len(r.body) == 5000000, "big response: %d %d", r.status, len(r.body))
	// Response trailers pass through.
	r = do(t, c, "GET", s.url("inbound", "/trailers"), nil)
	must(t, r.body == "body-before-trailers", "body %q", r.body)
	// HEAD keeps the upstream's content-length and sends no body.
	resp, err := c.Head(s.url("inbound", "/big?n=1234"))
	must(t, err == nil && resp.StatusCode == 200 && resp.ContentLength == 1234, "HEAD: %v %+v", err, resp)
	resp.Body.Close()
	r = do(t, c, "GET", s.url("inbound", "/status?code=204"), nil)
	must(t, r.status == 204 && r.body == "", "204: %d %q", r.status, r.body)
	r = do(t, c, "GET", s.url("inbound", "/status?code=304"), nil)
	must(t, r.status == 304, "304: %d", r.status)
}

func TestRawRequests(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig, "$APP", app.addr())
	addr := s.ListenerAddr("inbound")

	t.Run("chunked request with trailers", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("POST /info HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-t: tv\r\n\r\n")
		resp, body := rc.response("POST")
		must(t, resp.StatusCode == 200, "status %d %s", resp.StatusCode, body)
		got := result{body: body}.seen(t)
		must(t, got.Body == "abcde" && got.Trailers["x-t"] == "tv", "upstream saw body %q trailers %v", got.Body, got.Trailers)
	})
	t.Run("pipelined", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /info?n=1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /info?n=3 HTTP/1.1\r\nHost: h\r\n\r\n")
		_, b1 := rc.response("GET")
		_, b2 := rc.response("POST")
		_, b3 := rc.response("GET")
		must(t, strings.Contains(b1, "n=1") && b2 == "xyz" && strings.Contains(b3, "n=3"), "pipelined answers %q %q %q", b1, b2, b3)
	})
	t.Run("http/1.0", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("GET /echo HTTP/1.0\r\nHost: h\r\n\r\n")
		resp, _ := rc.response("GET")
		must(t, resp.StatusCode == 200, "status %d", resp.StatusCode)
		must(t, rc.closed(2*time.Second), "HTTP/1.0 connection without keep-alive stayed open")
		rc = dialRaw(t, addr)
		rc.send("GET /big?n=10 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
		resp, body := rc.response("GET")
		must(t, resp.StatusCode == 200 && body == "0123456789" && strings.EqualFold(resp.Header.Get("Connection"), "keep-alive"), "keep-alive 1.0: %v %q", resp.Header, body)
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		line, err := rc.br.ReadString('\n')
		must(t, err == nil && strings.HasPrefix(line, "HTTP/1.1 100"), "interim response %q %v", line, err)
		rc.br.ReadString('\n')
		rc.send("data")
		resp, body := rc.response("POST")
		must(t, resp.StatusCode == 200 && body == "data", "after 100: %d %q", resp.StatusCode, body)
	})
}

func TestFilterRewritesBodies(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, `
admin: {disabled: true}
listeners:
  - name: inbound
    address: 127.0.0.1:0
    cluster: app
    filters:
      - {name: stamp, wasm: $STAMP, configuration: "upper-request;wrap-response"}
wasm: {call_deadline: 5s} # a loaded machine must not trip it here
clusters:
  - {name: app, endpoints: [$APP]}
`, "$APP", app.addr(), "$STAMP", stampGuest(t))
	c := client(t)
	// Content-Length bodies: the filter buffers and rewrites; lengths follow.
	r := do(t, c, "POST", s.url("inbound", "/echo"), strings.NewReader("hello"))
	must(t, r.status == 200 && r.body == "[HELLO]", "rewritten echo %d %q", r.status, r.body)
	// A body larger than one read, streamed from the client.
	big := bytes.Repeat([]byte("ab"), 300000)
	r = do(t, c, "POST", s.url("inbound", "/echo"), bytes.NewReader(big))
	must(t, r.status == 200 && r.body == "["+strings.ToUpper(string(big))+"]", "large rewrite: %d, %d bytes %q %q", r.status, len(r.body), r.details(), r.body[:min(100, len(r.body))])
	// Chunked.
	r = do(t, c, "POST", s.url("inbound", "/echo"), io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	must(t, r.status == 200 && r.body == "[ABCD]", "chunked rewrite %d %q", r.status, r.body)
}

func TestHeaderTimeout(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig+"timeouts: {request_headers: 200ms}\n", "$APP", app.addr())
	rc := dialRaw(t, s.ListenerAddr("inbound"))
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n") // never finishes the head
	start := time.Now()
	resp, _ := rc.response("GET")
	must(t, resp.StatusCode == 408 && resp.Header.Get("x-nicrt-details") == "request_header_timeout", "slow client: %d %v", resp.StatusCode, resp.Header)
	must(t, time.Since(start) < 5*time.Second, "timeout took %v", time.Since(start))
	must(t, rc.closed(time.Second), "connection stayed open after 408")
	// Others are served meanwhile and after.
	r := do(t, client(t), "GET", s.url("inbound", "/info"), nil)
	must(t, r.status == 200, "next request: %d", r.status)
}

func TestUpstreamFailures(t *testing.T) {
	app := newUpstream(t, "app")
	dead := newUpstream(t, "dead")
	deadAddr := dead.addr()
	dead.srv.Close() // nothing listens there any more
	s := startSidecar(t, `
admin: {disabled: true}
timeouts: {request: 300ms}
listeners:
  - {name: inbound, address: 127.0.0.1:0, cluster: app}
  - {name: down, address: 127.0.0.1:0, cluster: dead}
clusters:
  - {name: app, endpoints: [$APP]}
  - {name: dead, endpoints: [$DEAD]}
`, "$APP", app.addr(), "$DEAD", deadAddr)
	c := client(t)
	r := do(t, c, "GET", s.url("down", "/info"), nil)
	must(t, r.status == 503 && r.details() == "upstream_connect_failure", "upstream down: %d %q %q", r.status, r.details(), r.body)
	r = do(t, c, "GET", s.url("inbound", "/info?sleep=1000"), nil)
	must(t, r.status == 504 && r.details() == "upstream_response_timeout", "slow upstream: %d %q", r.status, r.details())
	r = do(t, c, "GET", s.url("inbound", "/info"), nil)
	must(t, r.status == 200, "next request after failures: %d", r.status)
	statsSettle(t, func() (string, error) {
		var b strings.Builder
		s.WriteStats(&b)
		return b.String(), nil
	},
		`envoy_cluster_upstream_cx_connect_fail{envoy_cluster_name="dead"} 1`,
		`envoy_cluster_upstream_rq_timeout{envoy_cluster_name="app"} 1`,
		`envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="inbound",envoy_response_code_class="5"} 1`,
		`envoy_http_downstream_rq_xx{envoy_http_conn_manager_prefix="inbound",envoy_response_code_class="2"} 1`,
		`envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="inbound"} 0`,
	)
}

func TestStaleUpstreamConnection(t *testing.T) {
	// The upstream closes idle connections quickly.
	app := newUpstream(t, "app", func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	s := startSidecar(t, basicConfig, "$APP", app.addr())
	c := client(t)
	for i := 0; i < 3; i++ {
		r := do(t, c, "GET", s.url("inbound", "/info"), nil)
		must(t, r.status == 200, "request %d after the upstream closed the idle connection: %d %q", i, r.status, r.details())
		time.Sleep(150 * time.Millisecond) // < probeAfter: the retry path, not the probe
	}
	time.Sleep(probeAfter + 100*time.Millisecond) // the probe path
	r := do(t, c, "GET", s.url("inbound", "/info"), nil)
	must(t, r.status == 200, "after a long idle: %d", r.status)
}

func TestMalformedRequests(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig, "$APP", app.addr())
	addr := s.ListenerAddr("inbound")
	for _, tc := range []struct {
		in     string
		status int
	}{
		{"GARBAGE\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: h\r\nx: a\r\n folded\r\n\r\n", 400},
		{"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"GET / HTTP/1.1\r\nHost: h\r\nx: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	} {
		rc := dialRaw(t, addr)
		rc.send(tc.in)
		resp, _ := rc.response("GET")
		if resp.StatusCode != tc.status {
			t.Errorf("%.40q: status %d, want %d", tc.in, resp.StatusCode, tc.status)
		}
		if !rc.closed(time.Second) {
			t.Errorf("%.40q: connection left open after a protocol error", tc.in)
		}
	}
	r := do(t, client(t), "GET", s.url("inbound", "/info"), nil)
	must(t, r.status == 200, "after malformed requests: %d", r.status)
	must(t, app.reqs.Load() == 1, "malformed requests reached the upstream: %d", app.reqs.Load())
}

func TestFilterFailures(t *testing.T) {
	app := newUpstream(t, "app")
	tg := testGuest(t)
	s := startSidecar(t, `
admin: {disabled: true}
wasm: {call_deadline: 200ms}
listeners:
  - name: closed
    address: 127.0.0.1:0
    cluster: app
    filters: [{name: tg, wasm: $TG, pool_size: 1}]
  - name: open
    address: 127.0.0.1:0
    cluster: app
    filters: [{name: tg, wasm: $TG, pool_size: 1, fail_open: true}]
clusters:
  - {name: app, endpoints: [$APP]}
`, "$APP", app.addr(), "$TG", tg)
	c := client(t)
	for _, test := range []string{"panic", "loop", "oob"} {
		r := do(t, c, "GET", s.url("closed", "/info"), nil, "x-test", test)
		must(t, r.status == 500 && r.details() == "wasm_fail_stream", "%s, fail closed: %d %q", test, r.status, r.details())
		r = do(t, c, "GET", s.url("closed", "/info"), nil)
		must(t, r.status == 200, "%s: the next request got %d %q", test, r.status, r.body)
		r = do(t, c, "GET", s.url("open", "/info"), nil, "x-test", test)
		must(t, r.status == 200 && r.header.Get("x-upstream") == "app", "%s, fail open: %d %q", test, r.status, r.details())
	}
	r := do(t, c, "GET", s.url("closed", "/info"), nil, "x-test", "local")
	must(t, r.status == 418 && r.body == "teapot" && r.header.Get("x-local") == "1", "local reply: %d %q %v", r.status, r.body, r.header)
	must(t, r.details() == "", "a filter's own local reply carries x-nicrt-details %q", r.details())
	// testguest's "headers" case adds a value with a newline: a field a
	// filter must not be able to inject into the upstream request.
	r = do(t, c, "GET", s.url("closed", "/info"), nil, "x-test", "headers", "x-in", "v")
	must(t, r.status == 500 && r.details() == "filter_invalid_header", "header injection: %d %q %q", r.status, r.details(), r.body)
	r = do(t, c, "GET", s.url("closed", "/info"), nil, "x-test", "pairs", "x-drop", "1", "x-keep", "k")
	got := r.seen(t)
	must(t, got.Headers["x-pairs"] == "1" && got.Headers["x-drop"] == "" && got.Headers["x-keep"] == "k", "header map replaced by the filter: %v", got.Headers)
}

func TestFilterSeesSidecar(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, `
admin: {disabled: true}
node_id: node-7
node_metadata: {region: eu}
timeouts: {request: 500ms}
listeners:
  - name: in
    address: 127.0.0.1:0
    cluster: app
    filters: [{name: tg, wasm: $TG, configuration: "tick=20", pool_size: 1}]
clusters:
  - {name: app, endpoints: [$APP]}
`, "$APP", app.addr(), "$TG", testGuest(t))
	c := client(t)
	listener := s.ListenerAddr("in").String()

	// Properties: addresses, ids, node and position.
	r := do(t, c, "GET", s.url("in", "/p?q=1"), nil, "x-test", "props", "x-request-id", "rid-9")
	must(t, r.status == 200, "props: %d %s", r.status, r.body)
	props := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.body), "\n") {
		k, v, _ := strings.Cut(l, "=")
		props[k] = v
	}
	for k, want := range map[string]string{
		"nicrt.position": "sidecar", "destination.address": listener, "request.id": "rid-9",
		"request.path": "/p?q=1", "request.method": "GET", "request.protocol": "HTTP/1.1",
		"node.id": "node-7", "node.metadata.region": "eu", "plugin_name": "tg",
	} {
		must(t, props[k] == want, "property %s = %q, want %q (all: %v)", k, props[k], want, props)
	}
	must(t, strings.HasPrefix(props["source.address"], "127.0.0.1:"), "source.address %q", props["source.address"])
	// In the response phase the upstream is known.
	r = do(t, c, "GET", s.url("in", "/info"), nil, "x-test", "resp-props")
	// The guest adds x-upstream: <upstream.address> + "ok" (the error text).
	must(t, strings.Join(r.header.Values("x-upstream"), ",") == "app,"+app.addr()+"ok", "upstream.address property: %v", r.header)
	must(t, r.header.Get("x-response-code") == "200", "response.code: %v", r.header)

	// A filter pausing the request and resuming it from its timer.
	r = do(t, c, "GET", s.url("in", "/info"), nil, "x-test", "tick-pause")
	must(t, r.status == 200 && r.seen(t).Headers["x-resumed-by"] == "tick", "paused and resumed: %d %s", r.status, r.body)
	// A filter holding the request forever: 504 after timeouts.request.
	r = do(t, c, "GET", s.url("in", "/info"), nil, "x-test", "pause-forever")
	must(t, r.status == 504 && r.details() == "filter_pause_timeout", "pause forever: %d %q", r.status, r.details())

	// An HTTP callout to a cluster of the sidecar, resuming the request.
	r = do(t, c, "GET", s.url("in", "/info"), nil, "x-test", "httpcall", "x-cluster", "app")
	got := r.seen(t)
	must(t, r.status == 200 && got.Headers["x-call-status"] == "200" && got.Headers["x-call-body"] == "callout-ok", "callout: %d %v", r.status, got.Headers)
	r = do(t, c, "GET", s.url("in", "/info"), nil)
	must(t, r.status == 200, "next request: %d", r.status)
}

func TestStalledRequestBody(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, basicConfig+"timeouts: {stream_idle: 300ms}\n", "$APP", app.addr())
	rc := dialRaw(t, s.ListenerAddr("inbound"))
	rc.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc") // 7 bytes never come
	start := time.Now()
	resp, _ := rc.response("POST")
	must(t, resp.StatusCode == 408 && resp.Header.Get("x-nicrt-details") == "stream_idle_timeout", "stalled body: %d %v", resp.StatusCode, resp.Header)
	must(t, time.Since(start) < 5*time.Second, "took %v", time.Since(start))
	must(t, rc.closed(time.Second), "connection left open")
}

func TestShutdownDrains(t *testing.T) {
	app := newUpstream(t, "app")
	cfg, err := ParseConfig([]byte(strings.ReplaceAll(basicConfig, "$APP", app.addr())), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), cfg, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	c := client(t)
	url := s.url("inbound", "/info?sleep=400")
	// An idle keep-alive connection, and a request in flight.
	must(t, do(t, c, "GET", s.url("inbound", "/info"), nil).status == 200, "warm-up")
	done := make(chan result, 1)
	go func() { done <- do(t, c, "GET", url, nil) }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	must(t, r.status == 200, "the request in flight was not finished: %d", r.status)
	if _, err := http.Get(s.url("inbound", "/info")); err == nil {
		t.Fatal("a new connection was accepted after shutdown")
	}
}

// TestBodiesStream: without a filter asking for the body, request and
// response bodies pass through piece by piece (the upstream sees the start
// of a request body before the client has sent the rest, the client sees
// the start of a response body before the upstream has written the rest);
// a filter that buffers the request body holds it back until the end.
func TestBodiesStream(t *testing.T) {
	firstPart := make(chan string, 1)
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/request":
			buf := make([]byte, 5)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			firstPart <- string(buf)
			rest, _ := io.ReadAll(r.Body)
			io.WriteString(w, string(buf)+string(rest))
		case "/response":
			io.WriteString(w, "part1")
			w.(http.Flusher).Flush()
			select {
			case <-release:
				io.WriteString(w, "part2")
			case <-time.After(10 * time.Second):
				io.WriteString(w, "upstream-gave-up")
			}
		}
	}))
	defer app.Close()
	s := startSidecar(t, `
admin: {disabled: true}
wasm: {call_deadline: 5s}
listeners:
  - {name: plain, address: 127.0.0.1:0, cluster: app}
  - name: buffering
    address: 127.0.0.1:0
    cluster: app
    filters: [{name: stamp, wasm: $STAMP, configuration: "upper-request"}]
clusters:
  - {name: app, endpoints: [$APP]}
`, "$APP", app.Listener.Addr().String(), "$STAMP", stampGuest(t))

	t.Run("request streams", func(t *testing.T) {
		rc := dialRaw(t, s.ListenerAddr("plain"))
		rc.send("POST /request HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello")
		select {
		case got := <-firstPart:
			must(t, got == "hello", "upstream saw %q first", got)
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream did not see the first half of the body before the client sent the rest: the sidecar buffered it")
		}
		rc.send("world")
		resp, body := rc.response("POST")
		must(t, resp.StatusCode == 200 && body == "helloworld", "%d %q", resp.StatusCode, body)
	})
	t.Run("a filter that asks buffers", func(t *testing.T) {
		rc := dialRaw(t, s.ListenerAddr("buffering"))
		rc.send("POST /request HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello")
		select {
		case got := <-firstPart:
			t.Fatalf("the upstream saw %q before the body was complete, although the filter buffers it", got)
		case <-time.After(300 * time.Millisecond):
		}
		rc.send("world")
		got := <-firstPart
		resp, body := rc.response("POST")
		must(t, got == "HELLO" && resp.StatusCode == 200 && body == "HELLOWORLD", "%q, %d %q", got, resp.StatusCode, body)
	})
	t.Run("response streams", func(t *testing.T) {
		rc := dialRaw(t, s.ListenerAddr("plain"))
		rc.send("GET /response HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
		must(t, err == nil && resp.StatusCode == 200, "response head: %v", err)
		first := make([]byte, 5)
		_, err = io.ReadFull(resp.Body, first)
		must(t, err == nil && string(first) == "part1", "first part %q %v", first, err)
		close(release) // only now may the upstream finish
		rest, err := io.ReadAll(resp.Body)
		must(t, err == nil && string(rest) == "part2", "rest %q %v: the sidecar held the response back", rest, err)
	})
}

// TestAccessLog: with access_log set, every request, proxied or answered
// by the sidecar, gets one line in Envoy's default format with nicrt's
// details and cluster, written out by shutdown at the latest.
func TestAccessLog(t *testing.T) {
	app := newUpstream(t, "app")
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(`
admin: {disabled: true}
access_log: access.log
listeners:
  - name: out
    address: 127.0.0.1:0
    routes: [{hosts: [app], cluster: app}]
clusters:
  - {name: app, endpoints: [`+app.addr()+`]}
`), dir)
	must(t, err == nil, "%v", err)
	s, err := New(t.Context(), cfg, Options{Logger: discardLogger()})
	must(t, err == nil, "%v", err)
	s.Start()
	c := client(t)
	r := do(t, c, "POST", s.url("out", "/echo?x=1"), strings.NewReader("12345"), "Host", "app:9080", "User-Agent", "ua/1", "x-request-id", "rid-1")
	must(t, r.status == 200, "proxied: %d", r.status)
	r = do(t, c, "GET", s.url("out", "/none"), nil, "Host", "elsewhere", "x-request-id", "rid-2")
	must(t, r.status == 404, "no route: %d", r.status)
	c.CloseIdleConnections()
	must(t, s.Shutdown(t.Context()) == nil, "shutdown")
	b, err := os.ReadFile(filepath.Join(dir, "access.log"))
	must(t, err == nil, "%v", err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	must(t, len(lines) == 2, "want 2 lines:\n%s", b)
	for i, want := range [][]string{
		{`"POST /echo?x=1 HTTP/1.1" 200 via_upstream `, `"127.0.0.1" "ua/1" "rid-1" "app:9080" "` + app.addr() + `" app`},
		{`"GET /none HTTP/1.1" 404 route_not_found `, `"rid-2" "elsewhere" "-" -`},
	} {
		for _, w := range want {
			must(t, strings.Contains(lines[i], w), "line %d lacks %q:\n%s", i+1, w, lines[i])
		}
		must(t, strings.HasPrefix(lines[i], "[20"), "line %d does not start with the time: %s", i+1, lines[i])
	}
}

// testGuestConfig is one listener, "in", running the test guest in front
// of cluster app ($APP); tests add the admin line.
const testGuestConfig = `
listeners:
  - name: in
    address: 127.0.0.1:0
    cluster: app
    filters: [{name: tg, wasm: $TG, pool_size: 1}]
clusters:
  - {name: app, endpoints: [$APP]}
`

// TestFilterTrailers: a filter reads and edits request trailers on their
// way upstream and response trailers on their way back.
func TestFilterTrailers(t *testing.T) {
	app := newUpstream(t, "app")
	s := startSidecar(t, "admin: {disabled: true}\n"+testGuestConfig, "$APP", app.addr(), "$TG", testGuest(t))
	rc := dialRaw(t, s.ListenerAddr("in"))
	rc.send("POST /info HTTP/1.1\r\nHost: h\r\nx-test: trailers\r\nTransfer-Encoding: chunked\r\nTrailer: x-t-in, x-t-removed\r\n\r\n" +
		"3\r\nabc\r\n0\r\nx-t-in: v1\r\nx-t-removed: gone\r\n\r\n")
	resp, body := rc.response("POST")
	must(t, resp.StatusCode == 200, "status %d %s", resp.StatusCode, body)
	got := result{body: body}.seen(t)
	must(t, got.Body == "abc", "body %q", got.Body)
	for k, want := range map[string]string{"x-t-in": "v1", "x-t-added": "2", "x-t-replaced": "new:v1", "x-t-removed": "", "x-t-count": "3"} {
		must(t, got.Trailers[k] == want, "request trailer %s = %q, want %q (all %v)", k, got.Trailers[k], want, got.Trailers)
	}

	rc.send("GET /trailers HTTP/1.1\r\nHost: h\r\nx-test: trailers\r\n\r\n")
	resp, body = rc.response("GET")
	must(t, resp.StatusCode == 200 && body == "body-before-trailers", "status %d %q", resp.StatusCode, body)
	for k, want := range map[string]string{"X-Up-Trailer": "t1", "X-Rt-Added": "1", "X-Rt-Replaced": "r", "X-Rt-Pairs": "1", "X-Rt-Seen": "/3"} {
		must(t, resp.Trailer.Get(k) == want, "response trailer %s = %q, want %q (all %v)", k, resp.Trailer.Get(k), want, resp.Trailer)
	}
}

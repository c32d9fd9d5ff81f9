package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo"
)

// backend is an HTTP server on loopback that answers with its name.
func backend(t testing.TB, name string) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln := listen(t)
	hits = new(atomic.Int64)
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s %s", name, r.Host, r.Header.Get("x-nicrt-cluster"))
	}))
	return ln.Addr().String(), hits
}

// egressClient is an HTTP client whose connections go out through the NIC.
func egressClient(n *NIC, keepAlive bool) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: n.DialContext, DisableKeepAlives: !keepAlive, Proxy: nil,
	}}
}

func get(t testing.TB, c *http.Client, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestEgressRoutes: a routing filter on the NIC chooses each request's
// cluster; the NIC sends it there, over new or kept-alive connections
// (one kept-alive host connection follows the filter from upstream to
// upstream, one request at a time).
func TestEgressRoutes(t *testing.T) {
	clusters := map[string][]string{}
	for _, v := range []string{"v1", "v2", "v3"} {
		addr, _ := backend(t, v)
		clusters["reviews-"+v] = []string{addr}
	}
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: routeguest, config: "reviews=reviews-v1,reviews-v2,reviews-v3"})
	n := newNIC(t, Options{Engines: es, Clusters: clusters})
	for _, keep := range []bool{false, true} {
		c := egressClient(n, keep)
		var got []string
		for i := 0; i < 6; i++ {
			code, b := get(t, c, "http://reviews:9080/reviews/0")
			if code != 200 {
				t.Fatalf("keep-alive %v: status %d: %s", keep, code, b)
			}
			got = append(got, strings.Fields(b)[0])
		}
		if s := strings.Join(got, " "); s != "v1 v2 v3 v1 v2 v3" {
			t.Errorf("keep-alive %v: upstreams %s, want the filter's round robin", keep, s)
		}
		c.CloseIdleConnections()
	}
	waitQuiet(t, n)
	st := n.Stats()
	if st.Connections["egress"] < 7 || st.Messages[0] != 12 || st.Messages[1] != 12 || st.Sim.Rewritten != 12 {
		t.Errorf("stats: %v connections, messages %v, rewritten %d", st.Connections, st.Messages, st.Sim.Rewritten)
	}
}

// TestEgressFallback: without a routing header a request goes to the
// cluster its Host (or the dialed name) names, else to the dialed address.
func TestEgressFallback(t *testing.T) {
	details, _ := backend(t, "details")
	other, _ := backend(t, "other")
	n := newNIC(t, Options{Clusters: map[string][]string{"details": {details}}})
	c := egressClient(n, false)
	if _, b := get(t, c, "http://details:9080/details/0"); !strings.HasPrefix(b, "details ") {
		t.Errorf("by name: %q", b)
	}
	if _, b := get(t, c, "http://"+other+"/"); !strings.HasPrefix(b, "other ") {
		t.Errorf("by address: %q", b)
	}
	// A request to an address whose Host names a cluster goes to the cluster.
	req, _ := http.NewRequest("GET", "http://"+other+"/", nil)
	req.Host = "details:9080"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "details ") {
		t.Errorf("by Host: %q", b)
	}
}

// TestEgressErrors: the NIC answers for what it cannot deliver: a cluster
// that is not configured, an upstream that refuses the connection; a
// filter's local reply reaches the host too.
func TestEgressErrors(t *testing.T) {
	ln := listen(t)
	closed := ln.Addr().String()
	ln.Close()
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: testguest}, filter{dir: routeguest, config: "reviews=down"})
	n := newNIC(t, Options{Engines: es, Clusters: map[string][]string{"down": {closed}}})
	c := egressClient(n, true)
	code, b := get(t, c, "http://127.0.0.1:1/", "x-route", "nope")
	if code != 503 || !strings.Contains(b, `cluster "nope"`) {
		t.Errorf("unknown cluster: %d %q", code, b)
	}
	code, b = get(t, c, "http://reviews:9080/")
	if code != 503 || !strings.Contains(b, "refused") {
		t.Errorf("refused upstream: %d %q", code, b)
	}
	code, b = get(t, c, "http://reviews:9080/", "x-test", "local")
	if code != 418 || b != "teapot" {
		t.Errorf("local reply: %d %q", code, b)
	}
	c.CloseIdleConnections()
	waitQuiet(t, n)
	st := n.Stats()
	if st.UnknownClusters != 1 || st.UpstreamErrors != 1 || st.NICReplies != 2 || st.LocalReplies != 1 {
		t.Errorf("stats: unknown %d, upstream errors %d, NIC replies %d, local replies %d",
			st.UnknownClusters, st.UpstreamErrors, st.NICReplies, st.LocalReplies)
	}
}

// TestBookinfoThroughNICs: real Bookinfo services on loopback. productpage
// calls details and reviews through its host's NIC (egress), where a
// routing filter spreads reviews requests over v1, v2 and v3; the reviews
// services sit behind their own host's NIC (ingress).
func TestBookinfoThroughNICs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(cfg bookinfo.Config, ln net.Listener) {
		t.Helper()
		h, err := bookinfo.NewHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			bookinfo.Serve(ctx, ln, h)
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	ratings := listen(t)
	start(bookinfo.Config{Service: "ratings", Getenv: env()}, ratings)
	details := listen(t)
	start(bookinfo.Config{Service: "details", Getenv: env()}, details)
	rh, rp, _ := net.SplitHostPort(ratings.Addr().String())
	reviewsNIC := newNIC(t, Options{})
	clusters := map[string][]string{"details": {details.Addr().String()}}
	for _, v := range []string{"v1", "v2", "v3"} {
		ln := listen(t)
		clusters["reviews-"+v] = []string{ln.Addr().String()}
		start(bookinfo.Config{Service: "reviews", Version: v,
			Getenv: env("RATINGS_HOSTNAME", rh, "RATINGS_SERVICE_PORT", rp, "HOSTNAME", "reviews-"+v)}, reviewsNIC.Listener(ln))
	}
	es, _, _ := wasmEngines(t, 4, 1, filter{dir: routeguest, config: "reviews=reviews-v1,reviews-v2,reviews-v3"})
	ppNIC := newNIC(t, Options{Engines: es, Clusters: clusters})
	pp := listen(t)
	start(bookinfo.Config{Service: "productpage", Getenv: env(), DialContext: ppNIC.DialContext}, pp)

	client := &http.Client{Timeout: 20 * time.Second}
	seen := map[string]int{}
	for i := 0; i < 9; i++ {
		code, b := get(t, client, "http://"+pp.Addr().String()+"/api/v1/products/0/reviews")
		if code != 200 {
			t.Fatalf("reviews through productpage: %d %s", code, b)
		}
		for _, v := range []string{"reviews-v1", "reviews-v2", "reviews-v3"} {
			if strings.Contains(b, `"podname": "`+v+`"`) {
				seen[v]++
			}
		}
	}
	if seen["reviews-v1"] != 3 || seen["reviews-v2"] != 3 || seen["reviews-v3"] != 3 {
		t.Errorf("reviews versions answering: %v, want 3 each", seen)
	}
	code, b := get(t, client, "http://"+pp.Addr().String()+"/productpage")
	if code != 200 || !strings.Contains(b, "The Comedy of Errors") || !strings.Contains(b, "Book Details") {
		t.Errorf("/productpage: %d, %d bytes", code, len(b))
	}
	client.CloseIdleConnections()
	for _, n := range []*NIC{ppNIC, reviewsNIC} {
		st := n.Stats()
		if st.Messages[0] == 0 || st.Messages[1] == 0 || st.Aborted != 0 || st.FilterErrors != 0 {
			t.Errorf("NIC stats: messages %v, aborted %d, filter errors %d, errors %v", st.Messages, st.Aborted, st.FilterErrors, st.Errors)
		}
	}
}

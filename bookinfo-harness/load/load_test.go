package load

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/internal/bookinfotest"
)

func TestRunBookinfo(t *testing.T) {
	url := bookinfotest.App(t, "v2")
	res, err := Run(context.Background(), Options{URL: url, Connections: 2, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 10 {
		t.Fatalf("only %d requests in 300 ms", res.Requests)
	}
	if res.Codes[200] != res.Requests || res.Errors() != 0 || res.Degraded != 0 {
		t.Errorf("codes %v, degraded %d, errors %d of %d", res.Codes, res.Degraded, res.Errors(), res.Requests)
	}
	if res.Versions["v2"] != res.Requests || res.Share("v2") != 1 {
		t.Errorf("versions %v of %d requests", res.Versions, res.Requests)
	}
	if res.Latency.Count() != res.Requests || res.Latency.Min() <= 0 || res.Latency.Percentile(90) > res.Latency.Max() {
		t.Errorf("latency count %d min %v p90 %v max %v", res.Latency.Count(), res.Latency.Min(), res.Latency.Percentile(90), res.Latency.Max())
	}
	if res.Elapsed < 250*time.Millisecond || res.Elapsed > 2*time.Second {
		t.Errorf("elapsed %v for a 300 ms run", res.Elapsed)
	}
	if q := float64(res.Requests) / res.Elapsed.Seconds(); res.ActualQPS != q {
		t.Errorf("ActualQPS %v, want %v", res.ActualQPS, q)
	}
}

func TestRunPaced(t *testing.T) {
	url := bookinfotest.App(t, "v1")
	res, err := Run(context.Background(), Options{URL: url, Connections: 2, QPS: 40, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 40 qps for 0.5 s is 20 requests (fortio may do one more per connection).
	if res.Requests < 18 || res.Requests > 24 {
		t.Errorf("%d requests at 40 qps for 500 ms", res.Requests)
	}
	if res.Versions["v1"] != res.Requests {
		t.Errorf("versions %v", res.Versions)
	}
}

func TestRunDegradedAndRefused(t *testing.T) {
	// reviews points at a closed port: productpage answers 200 with an error
	// in the page, which counts as an error.
	closed := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().String()
	}()
	env := map[string]string{}
	bookinfotest.Point(env, "DETAILS", bookinfotest.Serve(t, "details", "", nil))
	bookinfotest.Point(env, "REVIEWS", closed)
	page := "http://" + bookinfotest.Serve(t, "productpage", "", env) + "/productpage"
	res, err := Run(context.Background(), Options{URL: page, Connections: 1, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Degraded != res.Requests || res.Errors() != res.Requests || res.Versions[""] != res.Requests {
		t.Errorf("requests %d degraded %d errors %d versions %v", res.Requests, res.Degraded, res.Errors(), res.Versions)
	}

	// Nothing listens: every request fails without an answer (code -1).
	res, err = Run(context.Background(), Options{URL: "http://" + closed + "/productpage", Connections: 1, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Codes[-1] != res.Requests || res.Errors() != res.Requests {
		t.Errorf("refused: requests %d codes %v", res.Requests, res.Codes)
	}
}

func TestRunCancel(t *testing.T) {
	url := bookinfotest.App(t, "v3")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Options{URL: url, Connections: 1, Duration: time.Minute})
	if err != context.DeadlineExceeded {
		t.Errorf("error %v, want the context's", err)
	}
	if time.Since(start) > 5*time.Second || res == nil || res.Requests == 0 {
		t.Errorf("cancel took %v; result %+v", time.Since(start), res)
	}
}

func TestRunOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Connections: 1, Duration: time.Second}, "load: no URL"},
		{Options{URL: "http://127.0.0.1:1/", Duration: time.Second}, "load: 0 connections"},
		{Options{URL: "http://127.0.0.1:1/", Connections: 1}, "load: duration 0s"},
		{Options{URL: "http://127.0.0.1:1/", Connections: 1, Duration: time.Second, Headers: []string{"no colon"}}, `load: header "no colon"`},
	} {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestSortVersions(t *testing.T) {
	vs := []string{"v3", "", "v1"}
	SortVersions(vs)
	if got := strings.Join(vs, ","); got != "v1,v3," {
		t.Errorf("got %q", got)
	}
}

func TestRunExactly(t *testing.T) {
	url := bookinfotest.App(t, "v2")
	res, err := Run(context.Background(), Options{URL: url, Connections: 3, Requests: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Versions["v2"] != 100 {
		t.Errorf("%d requests, versions %v", res.Requests, res.Versions)
	}
}

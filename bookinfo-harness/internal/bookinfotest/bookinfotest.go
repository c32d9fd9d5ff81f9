// Package bookinfotest runs real Bookinfo services inside a test process, on
// loopback ports, for the harness packages' tests.
package bookinfotest

import (
	"context"
	"net"
	"testing"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo"
)

// Serve runs one service until the test ends and returns its address. env
// answers the service's environment variables.
func Serve(t testing.TB, service, version string, env map[string]string) string {
	t.Helper()
	h, err := bookinfo.NewHandler(bookinfo.Config{Service: service, Version: version, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bookinfo.Serve(ctx, ln, h); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// Point sets <PREFIX>_HOSTNAME and <PREFIX>_SERVICE_PORT in env to addr.
func Point(env map[string]string, prefix, addr string) {
	h, p, _ := net.SplitHostPort(addr)
	env[prefix+"_HOSTNAME"], env[prefix+"_SERVICE_PORT"] = h, p
}

// App runs ratings, details, reviews of the given version (podname
// "reviews-<version>-<suffix>", as Kubernetes names pods) and productpage,
// and returns the product page's URL.
func App(t testing.TB, reviewsVersion string) string {
	t.Helper()
	env := map[string]string{}
	Point(env, "RATINGS", Serve(t, "ratings", "v1", nil))
	Point(env, "DETAILS", Serve(t, "details", "", nil))
	env["HOSTNAME"] = "reviews-" + reviewsVersion + "-7d9f8c-abcde"
	Point(env, "REVIEWS", Serve(t, "reviews", reviewsVersion, env))
	return "http://" + Serve(t, "productpage", "", env) + "/productpage"
}

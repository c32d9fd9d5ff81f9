// Package bookinfo is a Go re-implementation of Istio's Bookinfo sample
// application: productpage, details, reviews (v1, v2, v3) and ratings.
//
// nicrt times sidecars and a simulated SmartNIC on Bookinfo, so these services
// keep the original's wire contract (see /work/shared/bookinfo.md and
// docs/bookinfo.md): the same endpoints, JSON bytes, status codes, headers
// propagated downstream, timeouts and retries, and productpage's habit of
// opening a new TCP connection for every upstream call. Every upstream
// connection is opened through Config.DialContext, which is where the harness
// puts an outbound sidecar (like Istio's iptables redirect) and where the
// simulated NIC puts its egress pipeline.
package bookinfo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config selects one Bookinfo service and how it reaches its upstreams. The
// zero value of every optional field means the original's behaviour.
type Config struct {
	// Service is "productpage", "details", "reviews" or "ratings".
	Service string
	// Version is the service version. reviews: "v1" (no ratings), "v2" (black
	// stars) or "v3" (red stars). ratings: the original's SERVICE_VERSION, one
	// of "v1", "v-faulty", "v-delayed", "v-unavailable", "v-unhealthy".
	// Empty means the SERVICE_VERSION environment variable (ratings: "v1").
	// productpage and details have one version and ignore it.
	Version string
	// Getenv looks up the original's environment variables (DETAILS_HOSTNAME,
	// STAR_COLOR, ...). nil means os.Getenv. An empty value counts as unset.
	Getenv func(string) string
	// DialContext opens every upstream TCP connection. nil means a net.Dialer.
	// The address is the logical one ("reviews:9080"); the URL and Host header
	// keep it too, so a dialer may redirect the connection elsewhere (an
	// outbound sidecar, as Istio's iptables REDIRECT does) and the request
	// still names the service it is for.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// PoolUpstreams makes productpage keep upstream connections alive and reuse
	// them. The original opens a new connection per call (so load spreads over
	// reviews versions behind a connection-level balancer); that is the default.
	PoolUpstreams bool

	// UpstreamTimeout bounds each productpage call to details, reviews or
	// ratings (connect, request and response). Zero means 3 s.
	UpstreamTimeout time.Duration
	// ReviewsAttempts is how many times productpage tries reviews before it
	// gives up on a non-200 answer or an error. Zero means 2.
	ReviewsAttempts int
	// RatingsTimeout bounds reviews' call to ratings. Zero means 10 s when the
	// star color is black and 2.5 s otherwise, as the original.
	RatingsTimeout time.Duration
	// SessionKey signs productpage's session cookie. nil means a random key
	// per handler, so sessions last as long as the process.
	SessionKey []byte

	// FaultDelay is how long ratings v-delayed stalls. Zero means 7 s.
	FaultDelay time.Duration
	// FlipPeriod is how often ratings v-unavailable flips between serving and
	// 503. Zero means 60 s (v-unhealthy: 15 min).
	FlipPeriod time.Duration
	// Rand returns a number in [0, 1) for ratings' coin flips. nil means
	// math/rand/v2.Float64.
	Rand func() float64
	// Now is ratings' clock for v-unavailable. nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done (ratings v-delayed). nil means a
	// real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Services lists the service names NewHandler accepts.
var Services = []string{"productpage", "details", "reviews", "ratings"}

// NewHandler builds the HTTP handler of the service cfg names. It fails, naming
// the field or variable, when the configuration is not one the original would
// run with. A handler that keeps upstream connections alive (reviews, and
// productpage with PoolUpstreams) also implements io.Closer to release them.
func NewHandler(cfg Config) (http.Handler, error) {
	env := envReader{get: cfg.Getenv}
	switch cfg.Service {
	case "productpage":
		return newProductpage(cfg, env)
	case "details":
		return newDetails(), nil
	case "reviews":
		return newReviews(cfg, env)
	case "ratings":
		return newRatings(cfg, env)
	case "":
		return nil, errors.New("bookinfo: no service named; want one of " + strings.Join(Services, ", "))
	default:
		return nil, fmt.Errorf("bookinfo: unknown service %q; want one of %s", cfg.Service, strings.Join(Services, ", "))
	}
}

// ShutdownGrace is how long Serve waits for in-flight requests after its
// context ends before it closes the remaining connections.
const ShutdownGrace = 10 * time.Second

// Serve answers HTTP/1.1 requests on ln with h until ctx is done, then stops
// accepting, lets in-flight requests finish (up to ShutdownGrace) and returns
// nil. It returns an error only if serving failed or the grace ran out.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("bookinfo: requests still running %v after shutdown began; connections closed", ShutdownGrace)
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

var osGetenv = os.Getenv

// envReader reads the original's environment variables with their defaults.
type envReader struct{ get func(string) string }

func (e envReader) str(name, def string) string {
	get := e.get
	if get == nil {
		get = osGetenv
	}
	if v := get(name); v != "" {
		return v
	}
	return def
}

// servicesDomain is "" or "." + SERVICES_DOMAIN, appended to every upstream
// host name as the original does.
func (e envReader) servicesDomain() string {
	if d := e.str("SERVICES_DOMAIN", ""); d != "" {
		return "." + d
	}
	return ""
}

// upstreamAddr is host[.domain]:port for an upstream, from <NAME>_HOSTNAME
// (default: the service name), SERVICES_DOMAIN and <NAME>_SERVICE_PORT
// (default 9080).
func (e envReader) upstreamAddr(service string) (string, error) {
	up := strings.ToUpper(service)
	host := e.str(up+"_HOSTNAME", service) + e.servicesDomain()
	portVar := up + "_SERVICE_PORT"
	port := e.str(portVar, "9080")
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("bookinfo: %s=%q is not a TCP port (1-65535)", portVar, port)
	}
	return net.JoinHostPort(host, port), nil
}

func randFloat(cfg Config) func() float64 {
	if cfg.Rand != nil {
		return cfg.Rand
	}
	return rand.Float64
}

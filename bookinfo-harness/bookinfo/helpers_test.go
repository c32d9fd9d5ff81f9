package bookinfo

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// envOf is a Getenv over a fixed map, so tests never read the real environment.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// countingListener counts accepted TCP connections.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// server is a handler served over real loopback TCP by Serve.
type server struct {
	addr string // 127.0.0.1:port
	host string
	port string
	ln   *countingListener
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// serveHandler serves h on a fresh 127.0.0.1 port until the test ends and
// checks that Serve stops cleanly.
func serveHandler(t testing.TB, h http.Handler) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cl, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(ShutdownGrace + 5*time.Second):
			t.Errorf("Serve did not stop")
		}
		if c, ok := h.(io.Closer); ok {
			c.Close()
		}
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return &server{addr: ln.Addr().String(), host: host, port: port, ln: cl}
}

// startService builds cfg's handler and serves it on loopback.
func startService(t testing.TB, cfg Config) *server {
	t.Helper()
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveHandler(t, h)
}

// app is a whole Bookinfo on loopback, each service on its own port.
type app struct {
	productpage, details, reviews, ratings *server
}

func startApp(t testing.TB, reviewsVersion string, pp Config) *app {
	t.Helper()
	a := &app{}
	a.ratings = startService(t, Config{Service: "ratings", Getenv: envOf()})
	a.details = startService(t, Config{Service: "details", Getenv: envOf()})
	a.reviews = startService(t, Config{Service: "reviews", Version: reviewsVersion,
		Getenv: envOf("RATINGS_HOSTNAME", a.ratings.host, "RATINGS_SERVICE_PORT", a.ratings.port, "HOSTNAME", "reviews-"+reviewsVersion)})
	pp.Service = "productpage"
	pp.Getenv = envOf(
		"DETAILS_HOSTNAME", a.details.host, "DETAILS_SERVICE_PORT", a.details.port,
		"REVIEWS_HOSTNAME", a.reviews.host, "REVIEWS_SERVICE_PORT", a.reviews.port,
		"RATINGS_HOSTNAME", a.ratings.host, "RATINGS_SERVICE_PORT", a.ratings.port)
	a.productpage = startService(t, pp)
	return a
}

// recorded is one request an upstream stand-in received.
type recorded struct {
	path   string
	header http.Header
	at     time.Time
}

// recorder is a real upstream on loopback that records what it is sent and
// answers with a scripted status and body.
type recorder struct {
	*server
	mu   sync.Mutex
	reqs []recorded
	// answer decides the response to the n-th request (0-based).
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func newRecorder(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{answer: answer}
	rec.server = serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		n := len(rec.reqs)
		rec.reqs = append(rec.reqs, recorded{path: r.URL.Path, header: r.Header.Clone(), at: time.Now()})
		rec.mu.Unlock()
		rec.answer(n, w, r)
	}))
	return rec
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// answerJSON answers every request with status and body.
func answerJSON(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const (
	detailsBody0  = `{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`
	reviewsBodyV1 = `{"id": "0","podname": "null","clustername": "null","reviews": [{  "reviewer": "Reviewer1",  "text": "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"},{  "reviewer": "Reviewer2",  "text": "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."}]}`
)

// productpageWith starts a productpage whose details, reviews and ratings
// are the given servers.
func productpageWith(t testing.TB, cfg Config, details, reviews, ratings *server) *server {
	t.Helper()
	cfg.Service = "productpage"
	cfg.Getenv = envOf(
		"DETAILS_HOSTNAME", details.host, "DETAILS_SERVICE_PORT", details.port,
		"REVIEWS_HOSTNAME", reviews.host, "REVIEWS_SERVICE_PORT", reviews.port,
		"RATINGS_HOSTNAME", ratings.host, "RATINGS_SERVICE_PORT", ratings.port)
	return startService(t, cfg)
}

// get fetches url with optional header lines ("Name: value", sent with the
// name's case exactly as written) and returns status, headers and body.
func get(t testing.TB, client *http.Client, method, url string, body io.Reader, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header[name] = append(req.Header[name], value) // raw key: sent as written
	}
	if client == nil {
		client = noRedirect
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	return &server{addr: addr, host: host, port: port}
}

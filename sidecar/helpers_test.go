package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// upstream is a real HTTP server on loopback that reports what it received.
type upstream struct {
	name  string
	srv   *httptest.Server
	conns atomic.Int64
	reqs  atomic.Int64
}

// seen is what /info answers: the request as the upstream received it.
type seen struct {
	Upstream string            `json:"upstream"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Host     string            `json:"host"`
	Proto    string            `json:"proto"`
	Headers  map[string]string `json:"headers"`
	Body     string            `json:"body"`
	Trailers map[string]string `json:"trailers"`
	TE       []string          `json:"te"`
	CL       int64             `json:"content_length"`
}

func newUpstream(t testing.TB, name string, opts ...func(*http.Server)) *upstream {
	t.Helper()
	u := &upstream{name: name}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	for _, o := range opts {
		o(srv.Config)
	}
	srv.Start()
	u.srv = srv
	t.Cleanup(srv.Close)
	return u
}

func (u *upstream) addr() string { return u.srv.Listener.Addr().String() }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.reqs.Add(1)
	w.Header().Set("x-upstream", u.name)
	q := r.URL.Query()
	if ms, _ := strconv.Atoi(q.Get("sleep")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	switch r.URL.Path {
	case "/echo":
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		// Read and write explicitly: this Go's server stops an
		// io.Copy(w, r.Body) echo after the first 512 bytes.
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				break
			}
		}
	case "/callout": // what testguest's HTTP callout asks for
		io.WriteString(w, "callout-ok")
	case "/status":
		code, _ := strconv.Atoi(q.Get("code"))
		w.WriteHeader(code)
	case "/trailers":
		w.Header().Set("Trailer", "x-up-trailer")
		w.WriteHeader(200)
		io.WriteString(w, "body-before-trailers")
		w.(http.Flusher).Flush()
		w.Header().Set("x-up-trailer", "t1")
	case "/big":
		n, _ := strconv.Atoi(q.Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	default:
		body, _ := io.ReadAll(r.Body)
		s := seen{Upstream: u.name, Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Proto: r.Proto,
			Headers: map[string]string{}, Body: string(body), TE: r.TransferEncoding, CL: r.ContentLength}
		for k, v := range r.Header {
			s.Headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		if len(r.Trailer) > 0 {
			s.Trailers = map[string]string{}
			for k, v := range r.Trailer {
				s.Trailers[strings.ToLower(k)] = strings.Join(v, ",")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	}
}

// guest builds a test guest once per test binary and writes it to a file.
var guestFiles sync.Map

func guestFile(t testing.TB, dir string) string {
	t.Helper()
	if p, ok := guestFiles.Load(dir); ok {
		return p.(string)
	}
	wasm := wasmbuild.Go(t, dir)
	f, err := os.CreateTemp("", "nicrt-sidecar-test-*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(wasm)
	f.Close()
	guestFiles.Store(dir, f.Name())
	return f.Name()
}

func TestMain(m *testing.M) {
	if to := os.Getenv(relayEnv); to != "" {
		os.Exit(runRelay(to)) // the benchmarks' bare TCP relay process
	}
	code := m.Run()
	guestFiles.Range(func(_, v any) bool { os.Remove(v.(string)); return true })
	if nicrtBin.path != "" {
		os.RemoveAll(filepath.Dir(nicrtBin.path))
	}
	os.Exit(code)
}

func testGuest(t testing.TB) string  { return guestFile(t, "../runtime/testdata/guests/testguest") }
func stampGuest(t testing.TB) string { return guestFile(t, "testdata/guests/stamp") }

// logBuffer collects a sidecar's log for failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSidecar parses a YAML config (after replacing $KEY placeholders),
// starts the sidecar and stops it at the end of the test.
func startSidecar(t testing.TB, yaml string, repl ...string) *Sidecar {
	t.Helper()
	r := strings.NewReplacer(repl...)
	cfg, err := ParseConfig([]byte(r.Replace(yaml)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if t.Failed() {
			t.Logf("sidecar log:\n%s", logs.String())
		}
	})
	return s
}

func (s *Sidecar) url(listener, path string) string {
	return "http://" + s.ListenerAddr(listener).String() + path
}

// client returns an HTTP client with keep-alive that never follows redirects.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) details() string { return r.header.Get("x-nicrt-details") }

func (r result) seen(t testing.TB) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("upstream answer %q: %v", r.body, err)
	}
	return s
}

func do(t testing.TB, c *http.Client, method, url string, body io.Reader, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

// rawConn is a raw TCP connection for requests net/http will not send.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr net.Addr) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// response reads one response; method is the request's (HEAD has no body).
func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection (EOF) within d.
func (r *rawConn) closed(d time.Duration) bool {
	r.c.SetReadDeadline(time.Now().Add(d))
	_, err := r.br.ReadByte()
	return err == io.EOF || (err != nil && !isTimeout(err))
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func must(t testing.TB, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprintf

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// statsSettle reads stats until every wanted line is present and returns
// the last read. A request's counters are bumped when its stream ends,
// which is after the client has read the response, so a test that reads
// stats straight after a request would race the sidecar; the wait is
// bounded and the failure message shows what was missing.
func statsSettle(t testing.TB, read func() (string, error), wants ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, w := range wants {
			if !strings.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats lack %q after 5s:\n%s", missing, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

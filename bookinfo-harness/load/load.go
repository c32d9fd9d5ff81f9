// Package load measures an HTTP endpoint under load with fortio's library:
// fortio's periodic runner paces the requests and times each one, fortio's
// fast HTTP/1.1 client sends them, and this package keeps every latency at
// microsecond resolution, the status codes, and what each Bookinfo page says
// about how it was built (which reviews version served it, whether an
// upstream failed).
//
// Only fortio.org/fortio/fhttp and fortio.org/fortio/periodic are imported:
// the module's root package pulls a dependency nicrt's module proxy refuses.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	flog "fortio.org/log"

	"github.com/nicrt/nicrt/bookinfo-harness/latency"
)

// Options describe one measurement.
type Options struct {
	// URL is the page to load, e.g. http://127.0.0.1:9080/productpage.
	URL string
	// Connections is the number of concurrent keep-alive connections, each
	// driven by its own goroutine (fortio's "threads"). At least 1.
	Connections int
	// QPS is the total target rate; 0 or less means as fast as possible
	// (each connection sends its next request when the last one answered).
	QPS float64
	// Duration is how long the measured part lasts.
	Duration time.Duration
	// Requests, when more than 0, measures exactly this many requests
	// instead of running for Duration (fortio's "exactly" mode).
	Requests int64
	// Warmup is how long the same load runs before, unmeasured, so
	// connections, caches and pools are warm. 0 skips it.
	Warmup time.Duration
	// Timeout bounds each request; 0 means fortio's default (3 s).
	Timeout time.Duration
	// Headers are extra request headers, each "Name: value".
	Headers []string
}

// Result is one measurement.
type Result struct {
	// Start is when the measured part began; Elapsed how long it took.
	Start   time.Time
	Elapsed time.Duration
	// Latency has every measured request's latency, errors included, as
	// fortio's periodic runner timed it (the whole request and answer).
	Latency latency.Histogram
	// Requests is how many requests were measured.
	Requests uint64
	// Codes counts answers by HTTP status; -1 counts requests that got no
	// answer (connection refused, reset, timeout).
	Codes map[int]uint64
	// Degraded counts 200 answers whose page reports an upstream failure.
	Degraded uint64
	// Versions counts pages by the reviews version that served them; ""
	// counts pages that name none.
	Versions map[string]uint64
	// ActualQPS is Requests / Elapsed.
	ActualQPS float64
}

// Errors is the number of requests that failed: no answer, a status other
// than 200, or a page reporting an upstream failure.
func (r *Result) Errors() uint64 { return CountErrors(r.Codes, r.Degraded) }

// CountErrors is the number of failed requests given the answers by status
// (-1: none) and the number of 200 pages reporting an upstream failure.
func CountErrors(codes map[int]uint64, degraded uint64) uint64 {
	n := degraded
	for code, c := range codes {
		if code != 200 {
			n += c
		}
	}
	return n
}

// Share is the fraction of measured requests whose page came from reviews
// version v (0 when nothing was measured).
func (r *Result) Share(v string) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Versions[v]) / float64(r.Requests)
}

// SortVersions orders reviews versions for display: by name, "" (pages
// naming none) last.
func SortVersions(vs []string) {
	sort.Slice(vs, func(i, j int) bool {
		if (vs[i] == "") != (vs[j] == "") {
			return vs[j] == ""
		}
		return vs[i] < vs[j]
	})
}

var logOnce sync.Once

// SetLog sends fortio's own log lines (warnings and errors only) to w
// instead of standard error, so they do not mix with a progress display.
func SetLog(w io.Writer) {
	flog.SetOutput(w)
	flog.SetLogLevelQuiet(flog.Warning)
}

// Run measures o.URL. It returns early, with what was measured so far, when
// ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.URL == "" {
		return nil, errors.New("load: no URL")
	}
	if o.Connections < 1 {
		return nil, fmt.Errorf("load: %d connections; want at least 1", o.Connections)
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		return nil, fmt.Errorf("load: duration %v; want more than 0", o.Duration)
	}
	logOnce.Do(func() { flog.SetLogLevelQuiet(flog.Warning) })

	expected := 1024
	switch {
	case o.Requests > 0:
		expected = int(o.Requests)/o.Connections + 1
	case o.QPS > 0:
		expected = int(o.QPS*o.Duration.Seconds())/o.Connections + 16
	}
	conns := make([]*conn, o.Connections)
	for i := range conns {
		c, err := newConn(&o, expected)
		if err != nil {
			closeAll(conns[:i])
			return nil, err
		}
		conns[i] = c
	}
	defer closeAll(conns)
	lg := &logger{conns: conns}

	if o.Warmup > 0 {
		phase(ctx, &o, o.Warmup, 0, conns, lg)
		for _, c := range conns {
			c.reset()
		}
	}
	lg.measure = true
	start := time.Now()
	phase(ctx, &o, o.Duration, o.Requests, conns, lg)
	elapsed := time.Since(start)

	res := &Result{Start: start, Elapsed: elapsed, Codes: map[int]uint64{}, Versions: map[string]uint64{}}
	recs := make([]*latency.Recorder, len(conns))
	for i, c := range conns {
		recs[i] = c.rec
		for code, n := range c.codes {
			res.Codes[code] += n
		}
		for v, n := range c.versions {
			res.Versions[v] += n
		}
		res.Degraded += c.degraded
	}
	res.Latency = latency.Merge(recs...)
	res.Requests = res.Latency.Count()
	if elapsed > 0 {
		res.ActualQPS = float64(res.Requests) / elapsed.Seconds()
	}
	return res, ctx.Err()
}

// phase runs the load with fortio's periodic runner for d, or for exactly n
// requests when n > 0, or until ctx ends.
func phase(ctx context.Context, o *Options, d time.Duration, n int64, conns []*conn, lg *logger) {
	qps := o.QPS
	if qps <= 0 {
		qps = -1 // fortio: no pacing
	}
	ro := periodic.RunnerOptions{
		RunType:      "HTTP",
		QPS:          qps,
		Duration:     d,
		Exactly:      n,
		NumThreads:   len(conns),
		Resolution:   1e-6,
		Out:          io.Discard,
		AccessLogger: lg,
		// An aborter of our own: without one fortio installs a SIGINT
		// handler for the run and resets SIGINT's handling when the run
		// ends, which would undo the caller's own signal.Notify.
		Stop: periodic.NewAborter(),
	}
	r := periodic.NewPeriodicRunner(&ro)
	// The runner copies its options and clears the caller's runners, so
	// they are set on its own copy.
	for i, c := range conns {
		r.Options().Runners[i] = c
	}
	stop := context.AfterFunc(ctx, func() { r.Options().Abort() })
	defer stop()
	r.Run()
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		c.client.Close()
	}
}

// conn is one load connection: fortio's client, the answer of its last
// request, and what it measured. Only its own goroutine touches it.
type conn struct {
	client   fhttp.Fetcher
	last     lastAnswer
	code     int
	rec      *latency.Recorder
	codes    map[int]uint64
	versions map[string]uint64
	degraded uint64
}

func newConn(o *Options, expected int) (*conn, error) {
	c := &conn{rec: latency.NewRecorder(expected)}
	c.reset()
	ho := fhttp.HTTPOptions{}
	ho.Init(o.URL)
	if o.Timeout > 0 {
		ho.HTTPReqTimeOut = o.Timeout
	}
	for _, h := range o.Headers {
		if err := ho.AddAndValidateExtraHeader(h); err != nil {
			return nil, fmt.Errorf("load: header %q: %w", h, err)
		}
	}
	ho.DataWriter = &c.last
	client, err := fhttp.NewClient(&ho)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", o.URL, err)
	}
	c.client = client
	return c, nil
}

func (c *conn) reset() {
	c.rec.Reset()
	c.codes = map[int]uint64{}
	c.versions = map[string]uint64{}
	c.degraded = 0
}

// Run sends one request; fortio times it.
func (c *conn) Run(ctx context.Context, _ periodic.ThreadID) (bool, string) {
	c.last.reset()
	code, _, _ := c.client.StreamFetch(ctx)
	c.code = code
	return code == 200, ""
}

// lastAnswer receives the answer of the connection's last request. fortio's
// fast client writes its whole buffer (headers and body) in one Write after
// the request, and reuses that buffer only for the next request; keeping a
// reference until then instead of copying keeps the copy out of the measured
// time. A client that writes in pieces (fortio's standard client, used for
// https) gets its pieces copied.
type lastAnswer struct {
	ref    []byte
	copied []byte
	pieces int
}

const maxAnswer = 1 << 20

// Write keeps the first piece by reference and copies any later ones.
func (a *lastAnswer) Write(p []byte) (int, error) {
	a.pieces++
	switch a.pieces {
	case 1:
		a.ref = p
	case 2:
		a.copied = append(append(a.copied[:0], a.ref...), p...)
		a.ref = nil
	default:
		if len(a.copied) < maxAnswer {
			a.copied = append(a.copied, p...)
		}
	}
	return len(p), nil
}

func (a *lastAnswer) bytes() []byte {
	if a.pieces > 1 {
		return a.copied
	}
	return a.ref
}

func (a *lastAnswer) reset() { a.ref, a.pieces = nil, 0 }

// logger is fortio's access logger: Report runs right after each request,
// outside the timed span, on the request's own goroutine.
type logger struct {
	conns   []*conn
	measure bool
}

// Start is called before each request; nothing to do.
func (l *logger) Start(ctx context.Context, _ periodic.ThreadID, _ int64, _ time.Time) context.Context {
	return ctx
}

// Report records a measured request: its latency, status and page.
func (l *logger) Report(_ context.Context, id periodic.ThreadID, _ int64, _ time.Time, seconds float64, _ bool, _ string) {
	if !l.measure {
		return
	}
	c := l.conns[id]
	c.rec.RecordSeconds(seconds)
	c.codes[c.code]++
	if c.code == 200 {
		p := ClassifyPage(c.last.bytes())
		c.versions[p.Version]++
		if p.Degraded {
			c.degraded++
		}
	}
}

// Info names the logger in fortio's run description.
func (l *logger) Info() string { return "nicrt load" }

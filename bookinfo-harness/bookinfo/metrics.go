package bookinfo

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// The upstreams productpage counts results for, in the order /metrics lists
// them.
const (
	appDetails = iota
	appReviews
	appRatings
	numApps
)

var appNames = [numApps]string{"details", "reviews", "ratings"}

// resultCounter is productpage's Prometheus counter
// request_result{destination_app, response_code}: one count per upstream
// lookup (after retries), labelled with the status productpage settled on
// (500 when the call failed). Counting is a lock-free atomic add on a fixed
// table, so the request path never allocates for it.
type resultCounter struct {
	counts  [numApps][1000]atomic.Uint64
	created [numApps][1000]atomic.Int64 // unix nanoseconds of the first count
	now     func() time.Time
	mu      sync.Mutex // orders first-seen series for stable output
	order   []series
}

type series struct{ app, code int }

func (c *resultCounter) inc(app, code int) {
	if code < 0 || code >= 1000 {
		code = 500
	}
	if c.counts[app][code].Add(1) == 1 {
		c.created[app][code].Store(c.now().UnixNano())
		c.mu.Lock()
		c.order = append(c.order, series{app, code})
		c.mu.Unlock()
	}
}

// appendText writes the counter in the Prometheus text format the original's
// prometheus_client writes: a _total counter and a _created gauge per series,
// values as Go-style floats.
func (c *resultCounter) appendText(dst []byte) []byte {
	c.mu.Lock()
	order := append([]series(nil), c.order...)
	c.mu.Unlock()
	dst = append(dst, "# HELP request_result_total Results of requests\n# TYPE request_result_total counter\n"...)
	for _, s := range order {
		dst = appendSeries(dst, "request_result_total", s)
		dst = appendPromFloat(dst, float64(c.counts[s.app][s.code].Load()))
		dst = append(dst, '\n')
	}
	dst = append(dst, "# HELP request_result_created Results of requests\n# TYPE request_result_created gauge\n"...)
	for _, s := range order {
		dst = appendSeries(dst, "request_result_created", s)
		ns := c.created[s.app][s.code].Load()
		dst = appendPromFloat(dst, float64(ns)/1e9)
		dst = append(dst, '\n')
	}
	return dst
}

func appendSeries(dst []byte, name string, s series) []byte {
	dst = append(dst, name...)
	dst = append(dst, `{destination_app="`...)
	dst = append(dst, appNames[s.app]...)
	dst = append(dst, `",response_code="`...)
	dst = strconv.AppendInt(dst, int64(s.code), 10)
	return append(dst, `"} `...)
}

// appendPromFloat prints f as prometheus_client does: Python's repr, except
// that numbers of seven or more integer digits switch to Go's exponent form.
func appendPromFloat(dst []byte, f float64) []byte {
	start := len(dst)
	dst = jsontree.AppendPythonFloat(dst, f)
	s := dst[start:]
	dot := -1
	for i, c := range s {
		if c == '.' {
			dot = i
			break
		}
		if c == 'e' {
			break
		}
	}
	if f <= 0 || dot <= 6 {
		return dst
	}
	// d.ddddd…e+0N with trailing zeros (and a bare point) trimmed.
	var m []byte
	m = append(m, s[0], '.')
	m = append(m, s[1:dot]...)
	m = append(m, s[dot+1:]...)
	for len(m) > 0 && (m[len(m)-1] == '0' || m[len(m)-1] == '.') {
		m = m[:len(m)-1]
	}
	dst = append(dst[:start], m...)
	dst = append(dst, "e+0"...)
	return strconv.AppendInt(dst, int64(dot-1), 10)
}

package runtime

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// Metrics holds the counters, gauges and histograms guests define with
// proxy_define_metric. Metrics are per host, keyed by name: every VM of
// every plugin that defines the same name updates the same metric, as
// Envoy's stats store does.
//
// A name may carry Prometheus labels, e.g. `lb_requests_total{cluster="v1"}`;
// the exposition keeps them as labels.
type Metrics struct {
	mu     sync.Mutex // serializes define
	byName map[string]uint32
	list   atomic.Pointer[[]*metric] // index id-1; copied on define
}

type metric struct {
	typ    abi.MetricType
	name   string // as the guest defined it
	family string // sanitized Prometheus name
	labels string // `k="v",...` or ""
	val    atomic.Int64
	// histogram
	buckets [len(histogramBounds) + 1]atomic.Uint64
	sum     atomic.Uint64
	count   atomic.Uint64
}

// histogramBounds are the upper bounds of histogram buckets: Envoy's default
// buckets (in the unit the guest records, usually milliseconds).
var histogramBounds = [...]uint64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

func newMetrics() *Metrics {
	m := &Metrics{byName: map[string]uint32{}}
	m.list.Store(&[]*metric{})
	return m
}

// maxMetrics bounds what guests can define (a filter defining a metric per
// request would otherwise grow the host without limit).
const maxMetrics = 100000

func (m *Metrics) define(t abi.MetricType, name string) (uint32, abi.Status) {
	if t > abi.MetricHistogram || name == "" {
		return 0, abi.StatusBadArgument
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byName[name]; ok {
		if (*m.list.Load())[id-1].typ != t {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	old := *m.list.Load()
	if len(old) >= maxMetrics {
		return 0, abi.StatusInternalFailure
	}
	family, labels := splitMetricName(name)
	nl := append(old[:len(old):len(old)], &metric{typ: t, name: name, family: family, labels: labels})
	m.list.Store(&nl)
	id := uint32(len(nl))
	m.byName[name] = id
	return id, abi.StatusOK
}

func (m *Metrics) lookup(id uint32) *metric {
	l := *m.list.Load()
	if id == 0 || int(id) > len(l) {
		return nil
	}
	return l[id-1]
}

func (m *Metrics) record(id uint32, v uint64) abi.Status {
	x := m.lookup(id)
	if x == nil {
		return abi.StatusNotFound
	}
	switch x.typ {
	case abi.MetricCounter, abi.MetricGauge:
		x.val.Store(int64(v))
	case abi.MetricHistogram:
		i := sort.Search(len(histogramBounds), func(i int) bool { return v <= histogramBounds[i] })
		x.buckets[i].Add(1)
		x.sum.Add(v)
		x.count.Add(1)
	}
	return abi.StatusOK
}

func (m *Metrics) increment(id uint32, delta int64) abi.Status {
	x := m.lookup(id)
	if x == nil {
		return abi.StatusNotFound
	}
	switch x.typ {
	case abi.MetricCounter:
		if delta < 0 {
			return abi.StatusBadArgument
		}
		x.val.Add(delta)
	case abi.MetricGauge:
		x.val.Add(delta)
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

func (m *Metrics) get(id uint32) (uint64, abi.Status) {
	x := m.lookup(id)
	if x == nil {
		return 0, abi.StatusNotFound
	}
	if x.typ == abi.MetricHistogram {
		return 0, abi.StatusBadArgument
	}
	return uint64(x.val.Load()), abi.StatusOK
}

// Value returns the current value of a counter or gauge by the name a guest
// defined it with; ok is false for unknown names and histograms.
func (m *Metrics) Value(name string) (v int64, ok bool) {
	m.mu.Lock()
	id, found := m.byName[name]
	m.mu.Unlock()
	if !found {
		return 0, false
	}
	x := m.lookup(id)
	if x.typ == abi.MetricHistogram {
		return 0, false
	}
	return x.val.Load(), true
}

// WritePrometheus writes every metric in the Prometheus text exposition
// format (version 0.0.4), grouped by family, sorted by name.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	l := append([]*metric(nil), *m.list.Load()...)
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].family != l[j].family {
			return l[i].family < l[j].family
		}
		return l[i].labels < l[j].labels
	})
	bw := bufio.NewWriter(w)
	typeNames := [...]string{"counter", "gauge", "histogram"}
	last := ""
	for _, x := range l {
		if x.family != last {
			fmt.Fprintf(bw, "# TYPE %s %s\n", x.family, typeNames[x.typ])
			last = x.family
		}
		switch x.typ {
		case abi.MetricCounter, abi.MetricGauge:
			fmt.Fprintf(bw, "%s%s %d\n", x.family, braces(x.labels), x.val.Load())
		case abi.MetricHistogram:
			var cum uint64
			for i, b := range histogramBounds {
				cum += x.buckets[i].Load()
				fmt.Fprintf(bw, "%s_bucket%s %d\n", x.family, braces(joinLabels(x.labels, fmt.Sprintf(`le="%d"`, b))), cum)
			}
			cum += x.buckets[len(histogramBounds)].Load()
			fmt.Fprintf(bw, "%s_bucket%s %d\n", x.family, braces(joinLabels(x.labels, `le="+Inf"`)), cum)
			fmt.Fprintf(bw, "%s_sum%s %d\n", x.family, braces(x.labels), x.sum.Load())
			fmt.Fprintf(bw, "%s_count%s %d\n", x.family, braces(x.labels), x.count.Load())
		}
	}
	return bw.Flush()
}

func braces(l string) string {
	if l == "" {
		return ""
	}
	return "{" + l + "}"
}

func joinLabels(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// splitMetricName separates `family{labels}`; names without well-formed
// labels become one sanitized family name.
func splitMetricName(name string) (family, labels string) {
	if i := strings.IndexByte(name, '{'); i > 0 && strings.HasSuffix(name, "}") {
		if l, ok := parseLabels(name[i+1 : len(name)-1]); ok {
			return sanitizeMetricName(name[:i]), l
		}
	}
	return sanitizeMetricName(name), ""
}

// parseLabels validates `k="v",k2="v2"` and re-renders it canonically.
func parseLabels(s string) (string, bool) {
	var b strings.Builder
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return "", false
		}
		key := s[:eq]
		if sanitizeMetricName(key) != key || strings.ContainsRune(key, ':') {
			return "", false
		}
		rest := s[eq+2:]
		end := -1
		for i := 0; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return "", false
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(key)
		b.WriteString(`="`)
		b.WriteString(rest[:end])
		b.WriteByte('"')
		s = rest[end+1:]
		if s != "" {
			if s[0] != ',' {
				return "", false
			}
			s = s[1:]
		}
	}
	return b.String(), true
}

// sanitizeMetricName maps a name onto [a-zA-Z_:][a-zA-Z0-9_:]*.
func sanitizeMetricName(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || (i > 0 && '0' <= c && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

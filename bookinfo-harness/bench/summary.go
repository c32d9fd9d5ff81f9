package bench

import (
	"sort"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/latency"
)

// Cell summarizes one series at one connection level over its repeats: the
// latencies of all repeats pooled into one distribution.
type Cell struct {
	Series      string  `json:"series"`
	Connections int     `json:"connections"`
	Repeats     int     `json:"repeats"`
	Requests    uint64  `json:"requests"`
	QPS         float64 `json:"qps"` // requests / total measured time
	Errors      uint64  `json:"errors"`
	P50         Millis  `json:"p50_ms"`
	P90         Millis  `json:"p90_ms"`
	P99         Millis  `json:"p99_ms"`
	Max         Millis  `json:"max_ms"`
	// P90Min and P90Max are the lowest and highest p90 of single repeats:
	// how much the repeats disagree.
	P90Min Millis `json:"p90_min_ms"`
	P90Max Millis `json:"p90_max_ms"`
	// Shares is the fraction of requests served by each reviews version
	// ("" for pages naming none: failures).
	Shares map[string]float64 `json:"reviews_shares"`
	// RatioToBaseline is P90 / the baseline series' P90 at the same level
	// (0 when there is no baseline).
	RatioToBaseline float64 `json:"p90_ratio_to_baseline,omitempty"`
}

// Millis is a latency in milliseconds (float, microsecond precision).
type Millis float64

func ms(d time.Duration) Millis { return Millis(float64(d) / float64(time.Millisecond)) }

// Summarize pools the runs into cells, ordered by series (in the order
// given) then connections. baseline names the series the ratios compare to
// ("" or absent: none).
func Summarize(series []string, runs []Run, baseline string) []Cell {
	type key struct {
		s string
		n int
	}
	groups := map[key][]Run{}
	for _, r := range runs {
		k := key{r.Series, r.Connections}
		groups[k] = append(groups[k], r)
	}
	order := map[string]int{}
	for i, s := range series {
		order[s] = i
	}
	var cells []Cell
	for k, rs := range groups {
		c := Cell{Series: k.s, Connections: k.n, Repeats: len(rs), Shares: map[string]float64{}}
		var all latency.Histogram
		var secs float64
		versions := map[string]uint64{}
		for i, r := range rs {
			all = all.Add(r.Latency)
			secs += r.ElapsedSec
			c.Requests += r.Requests
			c.Errors += r.Errors()
			for v, n := range r.Versions {
				versions[v] += n
			}
			p90 := ms(r.Latency.Percentile(90))
			if i == 0 || p90 < c.P90Min {
				c.P90Min = p90
			}
			if p90 > c.P90Max {
				c.P90Max = p90
			}
		}
		if secs > 0 {
			c.QPS = float64(c.Requests) / secs
		}
		c.P50, c.P90, c.P99, c.Max = ms(all.Percentile(50)), ms(all.Percentile(90)), ms(all.Percentile(99)), ms(all.Max())
		for v, n := range versions {
			if c.Requests > 0 {
				c.Shares[v] = float64(n) / float64(c.Requests)
			}
		}
		cells = append(cells, c)
	}
	sort.Slice(cells, func(i, j int) bool {
		if cells[i].Series != cells[j].Series {
			oi, iok := order[cells[i].Series]
			oj, jok := order[cells[j].Series]
			if iok != jok {
				return iok
			}
			if oi != oj {
				return oi < oj
			}
			return cells[i].Series < cells[j].Series
		}
		return cells[i].Connections < cells[j].Connections
	})
	base := map[int]Millis{}
	for _, c := range cells {
		if c.Series == baseline {
			base[c.Connections] = c.P90
		}
	}
	for i := range cells {
		if b, ok := base[cells[i].Connections]; ok && b > 0 {
			cells[i].RatioToBaseline = float64(cells[i].P90 / b)
		}
	}
	return cells
}

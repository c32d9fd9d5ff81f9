// Package latency keeps request latencies at one-microsecond resolution.
//
// A benchmark thread appends each request's latency to its own Recorder (no
// locks, no allocation once the slice has grown); Merge then turns the
// recorders into a Histogram of exact microsecond values. Nothing is
// bucketed, so percentiles are exact to the microsecond and histograms from
// repeated runs merge without loss. fortio's own histogram is not used
// because its fixed buckets are 1 ms to 25 ms wide in the 1–100 ms range
// where Bookinfo's latencies fall.
package latency

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Recorder collects the latencies one goroutine measures. The zero value is
// ready to use; a Recorder must not be used by two goroutines at once.
type Recorder struct {
	us []uint32
}

// NewRecorder returns a Recorder with room for n samples before it grows.
func NewRecorder(n int) *Recorder { return &Recorder{us: make([]uint32, 0, max(n, 0))} }

// RecordSeconds adds a latency given in seconds (fortio's unit), rounded to
// the nearest microsecond. Negative and NaN values count as 0; values beyond
// about 71 minutes saturate.
func (r *Recorder) RecordSeconds(s float64) {
	r.us = append(r.us, toMicros(s*1e6))
}

// Record adds a latency.
func (r *Recorder) Record(d time.Duration) {
	r.us = append(r.us, toMicros(float64(d)/float64(time.Microsecond)))
}

// Len is how many latencies were recorded.
func (r *Recorder) Len() int { return len(r.us) }

// Reset forgets every sample but keeps the memory.
func (r *Recorder) Reset() { r.us = r.us[:0] }

func toMicros(us float64) uint32 {
	switch {
	case !(us > 0): // also NaN
		return 0
	case us >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(math.Round(us))
}

// Bucket is one distinct latency and how many requests took it.
type Bucket struct {
	Micros uint32 // latency in microseconds
	Count  uint64 // requests with exactly this latency
}

// Histogram is an exact latency distribution: distinct microsecond values in
// increasing order with their counts. The zero value is empty.
type Histogram struct {
	Buckets []Bucket
}

// Merge builds the histogram of every sample in the recorders.
func Merge(recs ...*Recorder) Histogram {
	n := 0
	for _, r := range recs {
		n += len(r.us)
	}
	all := make([]uint32, 0, n)
	for _, r := range recs {
		all = append(all, r.us...)
	}
	slices.Sort(all)
	var h Histogram
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j] == all[i] {
			j++
		}
		h.Buckets = append(h.Buckets, Bucket{Micros: all[i], Count: uint64(j - i)})
		i = j
	}
	return h
}

// Add returns the histogram of both distributions (for example the repeats of
// one measurement). Neither input changes.
func (h Histogram) Add(o Histogram) Histogram {
	out := Histogram{Buckets: make([]Bucket, 0, len(h.Buckets)+len(o.Buckets))}
	a, b := h.Buckets, o.Buckets
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].Micros < b[0].Micros):
			out.Buckets = append(out.Buckets, a[0])
			a = a[1:]
		case len(a) == 0 || b[0].Micros < a[0].Micros:
			out.Buckets = append(out.Buckets, b[0])
			b = b[1:]
		default:
			out.Buckets = append(out.Buckets, Bucket{a[0].Micros, a[0].Count + b[0].Count})
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// Count is the number of requests.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, b := range h.Buckets {
		n += b.Count
	}
	return n
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100): the
// smallest recorded latency that at least p% of the requests did not exceed.
// It is 0 for an empty histogram; p ≤ 0 gives the minimum.
func (h Histogram) Percentile(p float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for _, b := range h.Buckets {
		seen += b.Count
		if seen >= rank {
			return micros(b.Micros)
		}
	}
	return micros(h.Buckets[len(h.Buckets)-1].Micros)
}

// Min is the smallest latency (0 when empty).
func (h Histogram) Min() time.Duration {
	if len(h.Buckets) == 0 {
		return 0
	}
	return micros(h.Buckets[0].Micros)
}

// Max is the largest latency (0 when empty).
func (h Histogram) Max() time.Duration {
	if len(h.Buckets) == 0 {
		return 0
	}
	return micros(h.Buckets[len(h.Buckets)-1].Micros)
}

// Mean is the average latency (0 when empty).
func (h Histogram) Mean() time.Duration {
	var n uint64
	var sum float64
	for _, b := range h.Buckets {
		n += b.Count
		sum += float64(b.Micros) * float64(b.Count)
	}
	if n == 0 {
		return 0
	}
	return time.Duration(sum / float64(n) * float64(time.Microsecond))
}

func micros(us uint32) time.Duration { return time.Duration(us) * time.Microsecond }

// histogramJSON is the file form: two parallel arrays, compact and easy to
// load in any plotting tool.
type histogramJSON struct {
	Micros []uint32 `json:"us"`
	Counts []uint64 `json:"count"`
}

// MarshalJSON writes {"us":[...],"count":[...]}.
func (h Histogram) MarshalJSON() ([]byte, error) {
	j := histogramJSON{Micros: make([]uint32, len(h.Buckets)), Counts: make([]uint64, len(h.Buckets))}
	for i, b := range h.Buckets {
		j.Micros[i], j.Counts[i] = b.Micros, b.Count
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes and checks it: arrays of equal
// length, latencies strictly increasing, no zero counts.
func (h *Histogram) UnmarshalJSON(data []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if len(j.Micros) != len(j.Counts) {
		return fmt.Errorf("histogram: %d latencies (us) but %d counts", len(j.Micros), len(j.Counts))
	}
	bs := make([]Bucket, len(j.Micros))
	for i := range j.Micros {
		if i > 0 && j.Micros[i] <= j.Micros[i-1] {
			return fmt.Errorf("histogram: us[%d]=%d does not increase on us[%d]=%d", i, j.Micros[i], i-1, j.Micros[i-1])
		}
		if j.Counts[i] == 0 {
			return fmt.Errorf("histogram: count[%d] is 0", i)
		}
		bs[i] = Bucket{Micros: j.Micros[i], Count: j.Counts[i]}
	}
	h.Buckets = bs
	return nil
}

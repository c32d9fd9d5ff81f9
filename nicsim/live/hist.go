package live

import (
	"math/bits"
	"time"
)

// hist is a log-linear histogram of non-negative durations: 16 buckets per
// power of two (a bucket's upper bound is at most 6.25 % above any value in
// it), from 0 to about 2^40 ns (18 minutes; larger values land in the last
// bucket). Adding is a few integer operations and never allocates, so the
// hot path can afford one per released frame.
type hist struct {
	n      int64
	sum    time.Duration
	max    time.Duration
	counts [histBuckets]int64
}

const (
	histBits    = 4
	histSub     = 1 << histBits // sub-buckets per power of two
	histPow     = 41
	histBuckets = histPow * histSub
)

func histIndex(ns uint64) int {
	if ns < histSub {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // ns in [2^e, 2^(e+1)), e ≥ histBits
	i := (e-histBits+1)*histSub + int(ns>>(e-histBits)&(histSub-1))
	return min(i, histBuckets-1)
}

// histUpper is the largest value that falls in bucket i.
func histUpper(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)
	}
	e := i/histSub + histBits - 1
	sub := uint64(i % histSub)
	return time.Duration((histSub+sub+1)<<(e-histBits) - 1)
}

func (h *hist) add(d time.Duration) {
	d = max(d, 0)
	h.n++
	h.sum += d
	h.max = max(h.max, d)
	h.counts[histIndex(uint64(d))]++
}

func (h *hist) merge(o *hist) {
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the q-th quantile (0..1) as the upper bound of the
// bucket that holds it (never above the maximum seen).
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// above counts the values greater than d (to bucket precision: values in
// d's bucket count as not above).
func (h *hist) above(d time.Duration) int64 {
	var n int64
	for i := histIndex(uint64(max(d, 0))) + 1; i < histBuckets; i++ {
		n += h.counts[i]
	}
	return n
}

package main

import (
	"slices"
	"strconv"
)

// ring is a consistent-hashing ring. Each cluster owns virtualNodes points
// on a 64-bit circle; a key belongs to the cluster owning the first point at
// or after the key's hash (wrapping around). Adding or removing a cluster
// only moves the keys of the points it adds or removes, so users stay on
// their cluster when others come and go, and the many points per cluster
// spread keys evenly.
type ring struct {
	points []uint64 // sorted
	owner  []uint16 // owner[i] is the cluster index of points[i]
}

func newRing(clusters []string, virtualNodes int) ring {
	type point struct {
		h     uint64
		owner uint16
	}
	pts := make([]point, 0, len(clusters)*virtualNodes)
	for i, c := range clusters {
		for v := 0; v < virtualNodes; v++ {
			pts = append(pts, point{hashString(c + "#" + strconv.Itoa(v)), uint16(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.owner) - int(b.owner)
	})
	r := ring{points: make([]uint64, len(pts)), owner: make([]uint16, len(pts))}
	for i, p := range pts {
		r.points[i], r.owner[i] = p.h, p.owner
	}
	return r
}

// lookup returns the cluster index that owns key.
func (r *ring) lookup(key string) int {
	h := hashString(key)
	lo, hi := 0, len(r.points)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.points[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.points) {
		lo = 0
	}
	return int(r.owner[lo])
}

// hashString is 64-bit FNV-1a followed by a finalizer (MurmurHash3's
// fmix64), because raw FNV of short, similar strings such as "reviews-v1#7"
// clusters on the ring. It does not allocate.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

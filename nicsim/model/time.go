package model

import (
	"fmt"
	"math"
)

// Time is a simulated instant or span in picoseconds. Picoseconds because the
// quantities the model adds are not whole nanoseconds (a 64 B frame occupies
// 6.72 ns of a 100 Gb/s link) and rounding each of them would make the
// simulated clock drift with the number of frames. int64 picoseconds span
// ±106 days, far beyond any replay.
type Time int64

// Common spans, for readable arithmetic and tests.
const (
	Picosecond  Time = 1
	Nanosecond  Time = 1000
	Microsecond Time = 1000 * Nanosecond
	Millisecond Time = 1000 * Microsecond
	Second      Time = 1000 * Millisecond
)

// Nanoseconds rounds t to the nearest nanosecond (halves away from zero), the
// resolution of a nanosecond pcap timestamp.
func (t Time) Nanoseconds() int64 {
	if t >= 0 {
		return int64((t + 500) / 1000)
	}
	return -int64((-t + 500) / 1000)
}

// Microseconds returns t in microseconds as a float, for reports.
func (t Time) Microseconds() float64 { return float64(t) / float64(Microsecond) }

// String formats t in the largest unit that keeps it readable, e.g. "1.234µs".
func (t Time) String() string {
	a := t
	if a < 0 {
		a = -a
	}
	switch {
	case a >= Second:
		return fmt.Sprintf("%.6gs", float64(t)/float64(Second))
	case a >= Millisecond:
		return fmt.Sprintf("%.6gms", float64(t)/float64(Millisecond))
	case a >= Microsecond:
		return fmt.Sprintf("%.6gµs", float64(t)/float64(Microsecond))
	case a >= Nanosecond:
		return fmt.Sprintf("%.6gns", float64(t)/float64(Nanosecond))
	}
	return fmt.Sprintf("%dps", int64(t))
}

// FromNanoseconds converts a float nanosecond quantity from a config file to
// Time, rounding to the nearest picosecond.
func FromNanoseconds(ns float64) Time { return Time(math.Round(ns * 1000)) }

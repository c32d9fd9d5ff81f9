package main

import (
	"encoding/binary"
	"errors"

	"github.com/nicrt/nicrt/filters/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The host runs several VMs of the same plugin (one per worker, a pool in
// nicrt), each with its own memory. State that must be one across all of
// them — the round-robin position, the in-flight counts — lives in the
// host's shared data and is updated with compare-and-swap: read value and
// CAS token, compute, write back with the token; if another VM wrote in
// between, the write fails and the update is retried on the fresh value.
//
// Values are little-endian uint64 counters: one for round_robin, one per
// cluster (in configuration order) for least_request.

// Retry bounds. A choice gives up sooner than a release: a lost choice
// update only skews balance for one request, a lost release leaks an
// in-flight count for good.
const (
	chooseTries  = 16
	releaseTries = 256
)

// sharedCounters updates the shared counters of one plugin context.
type sharedCounters struct {
	key    string
	counts []uint64 // scratch: decoded counters
	buf    []byte   // scratch: encoded counters
	// retries counts CAS conflicts, i.e. another VM updated first.
	retries proxywasm.MetricCounter
}

func newSharedCounters(key string, n int, retries proxywasm.MetricCounter) *sharedCounters {
	return &sharedCounters{key: key, counts: make([]uint64, n), buf: make([]byte, 8*n), retries: retries}
}

// update applies fn to the current counters and stores the result with
// CAS, retrying on conflicts up to tries times. fn may be called several
// times, each time on freshly read counters; it returns false to abandon
// the update without writing. update reports whether the write happened.
func (s *sharedCounters) update(tries int, fn func(counts []uint64) bool) bool {
	for try := 0; try < tries; try++ {
		val, cas, err := proxywasm.GetSharedData(s.key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			return false
		}
		s.decode(val) // absent (cas 0: create) or malformed values read as zeros
		// (absent only if the host dropped the key after ensure)
		if !fn(s.counts) {
			return false
		}
		s.encode()
		err = proxywasm.SetSharedData(s.key, s.buf, cas)
		if err == nil {
			return true
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return false
		}
		s.retries.Increment(1)
	}
	return false
}

// next advances a single counter (round_robin's position) by one and
// returns its value before the increment. It is update for one counter
// without the callback and the decode/encode loops, because it runs on
// every request.
func (s *sharedCounters) next(tries int) (uint64, bool) {
	for try := 0; try < tries; try++ {
		val, cas, err := proxywasm.GetSharedData(s.key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			return 0, false
		}
		var pos uint64
		if len(val) == 8 { // absent or malformed values read as zero, as in decode
			pos = binary.LittleEndian.Uint64(val)
		}
		binary.LittleEndian.PutUint64(s.buf, pos+1)
		err = proxywasm.SetSharedData(s.key, s.buf, cas)
		if err == nil {
			return pos, true
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return 0, false
		}
		s.retries.Increment(1)
	}
	return 0, false
}

func (s *sharedCounters) decode(val []byte) {
	if len(val) != len(s.buf) {
		clear(s.counts)
		return
	}
	for i := range s.counts {
		s.counts[i] = binary.LittleEndian.Uint64(val[8*i:])
	}
}

func (s *sharedCounters) encode() {
	for i, c := range s.counts {
		binary.LittleEndian.PutUint64(s.buf[8*i:], c)
	}
}

// ensure creates the counters (all zero) if no VM has yet. Called from
// OnPluginStart, it keeps the create-without-CAS race to the moment the
// pool starts, when every VM would write the same zeros; after that every
// update is a real compare-and-swap.
func (s *sharedCounters) ensure() error {
	_, _, err := proxywasm.GetSharedData(s.key)
	if !errors.Is(err, types.ErrorStatusNotFound) {
		return err
	}
	clear(s.counts)
	s.encode()
	return proxywasm.SetSharedData(s.key, s.buf, 0)
}

// read returns the current counters (for tests and diagnostics).
func (s *sharedCounters) read() ([]uint64, error) {
	val, _, err := proxywasm.GetSharedData(s.key)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return nil, err
	}
	s.decode(val)
	return append([]uint64(nil), s.counts...), nil
}

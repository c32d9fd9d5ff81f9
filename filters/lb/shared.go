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

// sharedCounters updates the shared counters of one plugin context. Each
// update is a loop of load (read value and token into buf), a change of
// buf, and store (write with the token); a CAS conflict retries on the
// fresh value. The loops are written out per use (next here, acquire and
// release in main.go) rather than taking a callback: they run on every
// request, and in a wasip1 module each extra call layer costs hundreds of
// wasm instructions.
type sharedCounters struct {
	key string
	buf []byte // the counters being updated, 8 bytes each
	// retries counts CAS conflicts, i.e. another VM updated first.
	retries proxywasm.MetricCounter
	// beforeStore, when set (by tests), runs between load and store, to
	// play another VM that updates the value first.
	beforeStore func()
}

func newSharedCounters(key string, n int, retries proxywasm.MetricCounter) *sharedCounters {
	return &sharedCounters{key: key, buf: make([]byte, 8*n), retries: retries}
}

// load reads the counters into buf and returns the CAS token; absent (token
// 0: the write creates the key, if the host dropped it after ensure) or
// malformed values read as zeros. ok is false when shared data failed.
func (s *sharedCounters) load() (cas uint32, ok bool) {
	val, cas, err := proxywasm.GetSharedData(s.key)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return 0, false
	}
	if len(val) == len(s.buf) {
		copy(s.buf, val)
	} else {
		clear(s.buf)
	}
	return cas, true
}

// store writes buf with the token from load. retry is true when another VM
// wrote in between (a CAS conflict, counted); stored and retry are both
// false when shared data failed.
func (s *sharedCounters) store(cas uint32) (stored, retry bool) {
	if s.beforeStore != nil {
		s.beforeStore()
	}
	err := proxywasm.SetSharedData(s.key, s.buf, cas)
	if err == nil {
		return true, false
	}
	if errors.Is(err, types.ErrorStatusCasMismatch) {
		s.retries.Increment(1)
		return false, true
	}
	return false, false
}

// count returns counter i of buf; set changes it.
func (s *sharedCounters) count(i int) uint64  { return binary.LittleEndian.Uint64(s.buf[8*i:]) }
func (s *sharedCounters) set(i int, v uint64) { binary.LittleEndian.PutUint64(s.buf[8*i:], v) }

// next advances a single counter (round_robin's position) by one and
// returns its value before the increment. The usual case — read, write,
// no conflict — is straight-line code of its own, because it runs on every
// request; anything else goes to nextSlow.
func (s *sharedCounters) next(tries int) (uint64, bool) {
	val, cas, err := proxywasm.GetSharedData(s.key)
	if err != nil || len(val) != 8 {
		return s.nextSlow(tries)
	}
	pos := binary.LittleEndian.Uint64(val)
	binary.LittleEndian.PutUint64(s.buf, pos+1)
	if s.beforeStore != nil {
		s.beforeStore()
	}
	if err := proxywasm.SetSharedData(s.key, s.buf, cas); err != nil {
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return 0, false
		}
		s.retries.Increment(1)
		return s.nextSlow(tries - 1)
	}
	return pos, true
}

// nextSlow is next as a loop of load, set and store, retrying up to tries
// times.
//
//go:noinline
func (s *sharedCounters) nextSlow(tries int) (uint64, bool) {
	for try := 0; try < tries; try++ {
		cas, ok := s.load()
		if !ok {
			return 0, false
		}
		pos := s.count(0)
		s.set(0, pos+1)
		stored, retry := s.store(cas)
		if stored {
			return pos, true
		}
		if !retry {
			return 0, false
		}
	}
	return 0, false
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
	clear(s.buf)
	return proxywasm.SetSharedData(s.key, s.buf, 0)
}

// read returns the current counters (for tests and diagnostics).
func (s *sharedCounters) read() ([]uint64, error) {
	if _, ok := s.load(); !ok {
		return nil, errors.New("shared data failed")
	}
	out := make([]uint64, len(s.buf)/8)
	for i := range out {
		out[i] = s.count(i)
	}
	return out, nil
}

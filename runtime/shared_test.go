package runtime

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// get returns a copy of key's value in vmID's namespace and its token. It
// and set reach a namespace by vm_id, for tests that look at the store from
// outside a VM; host calls go through the plugin's own space.
func (d *sharedData) get(vmID string, key []byte) ([]byte, uint32, bool) {
	d.mu.Lock()
	sp := d.ns[vmID]
	d.mu.Unlock()
	if sp == nil {
		return nil, 0, false
	}
	return sp.get(key, nil)
}

// set is sharedSpace.set in vmID's namespace.
func (d *sharedData) set(vmID string, key, val []byte, cas uint32) abi.Status {
	return d.space(vmID).set(key, val, cas)
}

// TestSharedSpaceCopies: set overwrites a value's storage in place, so what
// get returned earlier must be a copy that later writes leave alone, through
// growing, shrinking and same-size values.
func TestSharedSpaceCopies(t *testing.T) {
	var d sharedData
	d.init()
	sp := d.space("vm")
	if d.space("vm") != sp {
		t.Fatal("space returned a second namespace for the same vm_id")
	}
	var buf []byte
	var held [][]byte
	vals := []string{"0", "11", "2", "3333333333", "", strings.Repeat("x", 300), "y", "zz"}
	for i, v := range vals {
		if s := sp.set([]byte("k"), []byte(v), 0); s != abi.StatusOK {
			t.Fatalf("set %q: %v", v, s)
		}
		got, cas, ok := sp.get([]byte("k"), buf)
		if !ok || string(got) != v || cas != uint32(i+1) {
			t.Fatalf("after set %q: get = %q, cas %d, %v; want cas %d", v, got, cas, ok, i+1)
		}
		buf = got
		got2, _, _ := d.get("vm", []byte("k")) // a fresh copy each time
		held = append(held, got2)
	}
	for i, v := range vals {
		if string(held[i]) != v {
			t.Errorf("value %d read earlier changed to %q by later writes, want %q", i, held[i], v)
		}
	}
	if _, _, ok := d.get("other", []byte("k")); ok {
		t.Error("another vm_id sees the key")
	}
}

// TestSharedSpaceConcurrent: readers racing a writer that overwrites one
// value in place always read a whole value, never a mix of two writes (run
// with -race to check the locking too).
func TestSharedSpaceConcurrent(t *testing.T) {
	var d sharedData
	d.init()
	sp := d.space("vm")
	a, b := bytes.Repeat([]byte("a"), 64), bytes.Repeat([]byte("b"), 64)
	sp.set([]byte("k"), a, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, _, _ := sp.get([]byte("k"), buf)
				if !bytes.Equal(v, a) && !bytes.Equal(v, b) {
					t.Errorf("torn read: %q", v)
					return
				}
				buf = v
			}
		}()
	}
	for i := 0; i < 20000; i++ {
		v := a
		if i%2 == 1 {
			v = b
		}
		_, cas, _ := sp.get([]byte("k"), nil)
		if s := sp.set([]byte("k"), v, cas); s != abi.StatusOK {
			t.Fatalf("set with the current token: %v", s)
		}
	}
	close(stop)
	wg.Wait()
}

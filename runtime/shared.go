package runtime

import (
	"sync"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// sharedData is Proxy-Wasm's shared key-value store: one namespace per
// vm_id, visible to every VM of every plugin with that vm_id, with a
// compare-and-swap token per key.
type sharedData struct {
	mu sync.Mutex // guards ns
	ns map[string]*sharedSpace
}

// sharedSpace is one vm_id's namespace. It has a lock of its own, so
// plugins of different vm_ids never wait for each other, and a plugin keeps
// a pointer to its space: a host call finds it without a lookup by name.
type sharedSpace struct {
	mu sync.Mutex
	m  map[string]*sharedEntry
}

type sharedEntry struct {
	val []byte // owned by the store: readers copy it out under mu
	cas uint32
}

func (d *sharedData) init() { d.ns = map[string]*sharedSpace{} }

// space returns vmID's namespace, creating it on first use. Namespaces are
// never removed, so the pointer stays valid for the host's lifetime.
func (d *sharedData) space(vmID string) *sharedSpace {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := d.ns[vmID]
	if sp == nil {
		sp = &sharedSpace{m: map[string]*sharedEntry{}}
		d.ns[vmID] = sp
	}
	return sp
}

// get appends key's value to dst[:0] and returns it with the key's token.
// The copy is made under the lock because set reuses a value's storage.
func (sp *sharedSpace) get(key, dst []byte) ([]byte, uint32, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e, ok := sp.m[string(key)]
	if !ok {
		return dst[:0], 0, false
	}
	return append(dst[:0], e.val...), e.cas, true
}

// set stores val under key. A non-zero cas must equal the key's current
// token (a missing key has none, so any cas creates it, as in Envoy). Each
// successful set advances the token.
func (sp *sharedSpace) set(key, val []byte, cas uint32) abi.Status {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e, ok := sp.m[string(key)]
	if !ok {
		sp.m[string(key)] = &sharedEntry{val: append([]byte(nil), val...), cas: 1}
		return abi.StatusOK
	}
	if cas != 0 && cas != e.cas {
		return abi.StatusCASMismatch
	}
	// Overwrite in place (no allocation per write: counters such as
	// round robin's position are written on every request) unless the
	// old storage is too small, or so much larger that keeping it would
	// hold on to memory a value no longer needs.
	if len(val) <= cap(e.val) && cap(e.val) <= 2*len(val)+64 {
		e.val = append(e.val[:0], val...)
	} else {
		e.val = append([]byte(nil), val...)
	}
	e.cas++
	if e.cas == 0 {
		e.cas = 1
	}
	return abi.StatusOK
}

// queueStore holds Proxy-Wasm shared queues. A queue belongs to the vm_id
// that registered it; proxy_on_queue_ready goes to a live VM of the plugin
// that registered it last.
type queueStore struct {
	mu     sync.Mutex
	byName map[queueName]uint32
	byID   map[uint32]*queue
	next   uint32
}

type queueName struct{ vmID, name string }

type queue struct {
	items [][]byte
	owner *Plugin
}

// maxQueueItems bounds a queue nobody drains.
const maxQueueItems = 10000

func (q *queueStore) init() {
	q.byName = map[queueName]uint32{}
	q.byID = map[uint32]*queue{}
}

func (q *queueStore) register(p *Plugin, name string) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := queueName{p.cfg.VMID, name}
	if id, ok := q.byName[k]; ok {
		q.byID[id].owner = p
		return id
	}
	q.next++
	q.byName[k] = q.next
	q.byID[q.next] = &queue{owner: p}
	return q.next
}

func (q *queueStore) resolve(vmID, name string) (uint32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, ok := q.byName[queueName{vmID, name}]
	return id, ok
}

func (q *queueStore) enqueue(id uint32, val []byte) abi.Status {
	q.mu.Lock()
	e, ok := q.byID[id]
	if !ok {
		q.mu.Unlock()
		return abi.StatusNotFound
	}
	if len(e.items) >= maxQueueItems {
		q.mu.Unlock()
		return abi.StatusInternalFailure
	}
	e.items = append(e.items, append([]byte(nil), val...))
	owner := e.owner
	q.mu.Unlock()
	// Notify asynchronously: the enqueuing VM may be the owner, and it is
	// inside a callback now.
	go owner.queueReady(id)
	return abi.StatusOK
}

func (q *queueStore) dequeue(id uint32) ([]byte, abi.Status) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.byID[id]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if len(e.items) == 0 {
		return nil, abi.StatusEmpty
	}
	v := e.items[0]
	e.items[0] = nil
	e.items = e.items[1:]
	return v, abi.StatusOK
}

// queueReady delivers proxy_on_queue_ready to one live VM's root context.
func (p *Plugin) queueReady(id uint32) {
	v := p.pick()
	if v == nil || p.closed.Load() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dead.Load() {
		return
	}
	v.cur = nil
	_, _ = v.call(cbQueueReady, p.host.cfg.CallDeadline, 0, uint64(v.rootID), uint64(id))
}

package runtime

import (
	"sync"
	"time"
)

// watchdog kills VMs whose current callback has run past its deadline.
//
// Why not a context.WithTimeout per call: that allocates a timer and a
// context on every callback of every request. Instead each VM counts its
// calls (odd = inside a call) and this goroutine samples the counters a few
// times per deadline; a VM seen inside the same call for longer than its
// limit has its context cancelled, which wazero (WithCloseOnContextDone)
// turns into an error at the guest's next function entry or loop header.
// The hot path pays two atomic adds; a runaway guest is stopped between one
// deadline and one deadline plus one sampling period later.
type watchdog struct {
	mu     sync.Mutex
	vms    map[*vm]*wdEntry
	period time.Duration
	done   chan struct{}
	once   sync.Once
}

type wdEntry struct {
	seq   uint64    // the call counter when first seen busy
	since time.Time // when it was first seen in that call
}

func startWatchdog(deadline time.Duration) *watchdog {
	p := deadline / 4
	if p < time.Millisecond {
		p = time.Millisecond
	}
	if p > 250*time.Millisecond {
		p = 250 * time.Millisecond
	}
	w := &watchdog{vms: map[*vm]*wdEntry{}, period: p, done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *watchdog) add(v *vm) {
	w.mu.Lock()
	w.vms[v] = &wdEntry{}
	w.mu.Unlock()
}

func (w *watchdog) remove(v *vm) {
	w.mu.Lock()
	delete(w.vms, v)
	w.mu.Unlock()
}

func (w *watchdog) stop() { w.once.Do(func() { close(w.done) }) }

func (w *watchdog) loop() {
	t := time.NewTicker(w.period)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			w.sample(now)
		}
	}
}

func (w *watchdog) sample(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for v, e := range w.vms {
		seq := v.calls.Load()
		if seq%2 == 0 { // idle
			e.seq = 0
			continue
		}
		if seq != e.seq {
			e.seq, e.since = seq, now
			continue
		}
		if limit := time.Duration(v.limit.Load()); now.Sub(e.since) > limit {
			delete(w.vms, v)
			v.kill(errDeadline{limit})
		}
	}
}

package live

import (
	"sync"
	"sync/atomic"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/httpframe"
)

// Filters that pause. A filter may hold a message until a timer or a
// callout resumes it (a fault delay, an HTTP call); the runtime then blocks
// the goroutine that runs it. The simulation calls its engines inside
// Advance, under the NIC's lock, so a pause there would stop the whole NIC.
// When filters may pause (Options.PausingFilters, or AllowPauses after a
// hot swap), engines that can pause (engine.Pauser) run on worker
// goroutines: the simulation's goroutine hands a message over and waits;
// when the filter pauses, it stops waiting and gives the simulation a
// provisional result (continue, the instructions run so far), and the NIC
// holds the message's bytes until the filter's final word, which it then
// applies: the bytes as they were, rewritten, or dropped for a local
// reply. Only that message (and what follows it on its connection, in
// order) waits. The hand-off costs two goroutine switches per message —
// on a loaded 2-core VM tens of microseconds when they wake OS threads —
// which is why filters that cannot pause run on the simulation's
// goroutine.

// job is one message run on a worker.
type job struct {
	msg  engine.Message
	head httpframe.Message
	e    engine.Engine
	// state: running → done (the caller got the result) or paused (the
	// caller went on with a provisional result; the worker completes it).
	state  atomic.Int32
	done   chan struct{}
	paused chan struct{}
	res    engine.Result
	err    error
	instr  uint64 // instructions when it paused
	raw    []byte // a stable copy of the message once it paused
	fields []httpframe.Field
}

const (
	jobRunning int32 = iota
	jobDone
	jobPaused
)

// pauseWatch connects the pausable engines' OnPause to the jobs running on
// workers.
type pauseWatch struct {
	mu   sync.Mutex
	jobs map[*engine.Message]*job
	work chan *job
	quit chan struct{}
}

// setPauseHooks makes every pausable engine report pauses to the NIC.
func (n *NIC) setPauseHooks(engines ...[]engine.Engine) {
	n.pw.jobs = map[*engine.Message]*job{}
	n.pw.work = make(chan *job)
	n.pw.quit = make(chan struct{})
	n.pausable = map[engine.Engine]bool{}
	for _, es := range engines {
		for _, e := range es {
			p, ok := e.(engine.Pauser)
			if !ok || !comparable(e) || n.pausable[e] {
				continue
			}
			n.pausable[e] = true
			p.OnPause(n.paused)
		}
	}
}

// comparable reports whether an engine can be a map key.
func comparable(e engine.Engine) bool { return same(e, e) }

// run runs inner on m: directly for engines that cannot pause; on a worker
// otherwise. It returns the result, or a provisional one with the job that
// will complete it. Caller holds n.mu.
func (n *NIC) run(inner engine.Engine, m *engine.Message) (engine.Result, error, *job) {
	if !n.pausing.Load() || !n.pausable[inner] {
		res, err := inner.Process(m)
		return res, err, nil
	}
	j := &job{e: inner, done: make(chan struct{}), paused: make(chan struct{})}
	j.msg, j.head = *m, *m.Head
	j.msg.Head = &j.head
	n.pw.mu.Lock()
	n.pw.jobs[&j.msg] = j
	n.pw.mu.Unlock()
	select {
	case n.pw.work <- j:
	default:
		go n.worker(j)
	}
	select {
	case <-j.done:
		return j.res, j.err, nil
	case <-j.paused:
		n.ctr.paused++
		return engine.Result{Instructions: j.instr}, nil, j
	}
}

// worker runs jobs; idle, it waits for the next one.
func (n *NIC) worker(j *job) {
	for {
		j.res, j.err = j.e.Process(&j.msg)
		n.pw.mu.Lock()
		delete(n.pw.jobs, &j.msg)
		n.pw.mu.Unlock()
		if j.state.CompareAndSwap(jobRunning, jobDone) {
			close(j.done)
		} else {
			n.complete(j)
		}
		select {
		case j = <-n.pw.work:
		case <-n.pw.quit:
			return
		}
	}
}

// paused is the engines' OnPause: on the worker, before the filter's wait,
// the message is copied out of the simulation's buffers (which move on) and
// the waiting simulation is told to go on.
func (n *NIC) paused(m *engine.Message, instructions uint64) {
	n.pw.mu.Lock()
	j := n.pw.jobs[m]
	n.pw.mu.Unlock()
	if j == nil || j.state.Load() != jobRunning {
		return
	}
	j.stabilize()
	j.instr = instructions
	if j.state.CompareAndSwap(jobRunning, jobPaused) {
		close(j.paused)
	}
}

// stabilize copies the message's bytes and re-points its parsed head at
// the copy, so the filter may read it after the simulation moved on.
func (j *job) stabilize() {
	old := j.msg.Raw
	j.raw = append([]byte(nil), old...)
	// The head's slices alias the message's bytes: find each one's offset
	// from the capacities (sub-slices of one array) and check it.
	rebase := func(b []byte) []byte {
		if len(b) == 0 {
			return b
		}
		if off := cap(old) - cap(b); off >= 0 && off+len(b) <= len(old) && &old[off] == &b[0] {
			return j.raw[off : off+len(b)]
		}
		return append([]byte(nil), b...)
	}
	h := &j.head
	h.Method, h.Target, h.Reason = rebase(h.Method), rebase(h.Target), rebase(h.Reason)
	j.fields = make([]httpframe.Field, len(h.Fields))
	for i, f := range h.Fields {
		j.fields[i] = httpframe.Field{Name: rebase(f.Name), Value: rebase(f.Value)}
	}
	h.Fields = j.fields
	j.msg.Raw = j.raw
}

// complete applies a paused message's final result, on its worker.
func (n *NIC) complete(j *job) {
	n.mu.Lock()
	c := n.flows[j.msg.Flow]
	if c != nil {
		h := c.h[j.msg.Dir]
		for i := h.msgHead; i < len(h.msgs); i++ {
			d := &h.msgs[i]
			if d.job != j {
				continue
			}
			d.job = nil
			h.pendingJobs--
			n.settle(c, h, d, &j.msg, &j.res, j.err, n.clk.now())
			n.markDirty(h)
			break
		}
	}
	n.mu.Unlock()
	n.kick()
}

func (n *NIC) stopWorkers() { close(n.pw.quit) }

// AllowPauses makes the NIC run pausable engines on workers from now on,
// so that a filter that pauses a message holds only that message (see
// Options.PausingFilters). A data plane calls it when it loads a filter
// that may pause (wasmengine.MayPause says which) while running.
func (n *NIC) AllowPauses() { n.pausing.Store(true) }

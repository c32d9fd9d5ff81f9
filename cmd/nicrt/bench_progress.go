package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bench"
)

// progress shows where a sweep is: a bar redrawn in place on a terminal, or
// one line per run elsewhere (logs, CI).
type progress struct {
	w       io.Writer
	bar     bool
	perStep time.Duration
	start   time.Time

	mu       sync.Mutex
	cur      bench.Step
	curStart time.Time
	started  bool
	stop     chan struct{}
	stopped  chan struct{}
}

func newProgress(w io.Writer, c bench.Config, wantBar bool) *progress {
	p := &progress{w: w, perStep: c.Warmup + c.Duration, start: time.Now()}
	if f, ok := w.(*os.File); ok && wantBar {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.bar = true
		}
	}
	return p
}

// step is called as each run starts.
func (p *progress) step(s bench.Step) {
	p.mu.Lock()
	p.cur, p.curStart = s, time.Now()
	first := !p.started
	p.started = true
	p.mu.Unlock()
	if !p.bar {
		fmt.Fprintf(p.w, "[%*d/%d] %s, %d %s, run %d\n", len(fmt.Sprint(s.Total)), s.Index+1, s.Total, s.Series,
			s.Connections, plural(s.Connections, "connection", "connections"), s.Repeat)
		return
	}
	if first {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	p.draw()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

// draw redraws the bar; the step and the ticker goroutine both call it, so
// it holds the lock while it writes.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, in := p.cur, time.Since(p.curStart)
	frac := (float64(s.Index) + min(1, float64(in)/float64(p.perStep))) / float64(s.Total)
	const width = 30
	n := int(frac * width)
	left := time.Duration(float64(s.Total-s.Index)*float64(p.perStep) - float64(min(in, p.perStep))).Round(time.Second)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %d/%d  %-16s %3d %-5s  run %d  ETA %-8v",
		strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, s.Index+1, s.Total, s.Series, s.Connections,
		plural(s.Connections, "conn", "conns"), s.Repeat, left)
}

// done ends the display.
func (p *progress) done() {
	if p.bar && p.stop != nil {
		close(p.stop)
		<-p.stopped
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 100))
	}
	fmt.Fprintf(p.w, "nicrt bench: measured in %v\n", time.Since(p.start).Round(time.Second))
}

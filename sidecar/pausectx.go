package sidecar

import (
	"context"
	"sync"
	"time"
)

// pauseCtx is the context a stream's filters may pause against: it ends at
// the request's deadline. It costs nothing unless a filter actually pauses
// (Done arms a timer only when first called), and one per connection is
// reused for every request, so the hot path allocates no context or timer.
type pauseCtx struct {
	mu       sync.Mutex
	deadline time.Time
	done     chan struct{}
	timer    *time.Timer
	err      error
}

var _ context.Context = (*pauseCtx)(nil)

// reset starts a new request with the given deadline.
func (p *pauseCtx) reset(deadline time.Time) {
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.done, p.err, p.deadline = nil, nil, deadline
	p.mu.Unlock()
}

// Deadline implements context.Context.
func (p *pauseCtx) Deadline() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deadline, true
}

// Done implements context.Context; the first call arms the timer.
func (p *pauseCtx) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		ch := make(chan struct{})
		p.done = ch
		if d := time.Until(p.deadline); d <= 0 {
			p.err = context.DeadlineExceeded
			close(ch)
		} else {
			p.timer = time.AfterFunc(d, func() {
				p.mu.Lock()
				if p.done == ch {
					p.err = context.DeadlineExceeded
				}
				p.mu.Unlock()
				close(ch)
			})
		}
	}
	return p.done
}

// Err implements context.Context.
func (p *pauseCtx) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Value implements context.Context; the stream context carries no values.
func (p *pauseCtx) Value(any) any { return nil }

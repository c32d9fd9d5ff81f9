package sidecar

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/sidecar/internal/h1"
)

// cluster is a named group of endpoints chosen round-robin.
type cluster struct {
	name  string
	label string // Prometheus labels
	eps   []*endpoint
	next  atomic.Uint32
	stats clusterStats
}

// endpoint is one upstream address with its pool of idle keep-alive
// connections (most recently used first, so a quiet period lets the
// oldest ones age out).
type endpoint struct {
	addr    string
	c       *cluster
	pool    *pool
	mu      sync.Mutex
	idle    []*upconn
	maxIdle int
	closed  bool
}

// upconn is one upstream connection.
type upconn struct {
	nc        net.Conn
	r         *h1.Reader
	ep        *endpoint
	idleSince time.Time
	reused    bool     // served a request before the current one
	dl        deadline // read and write deadline
}

// pool holds what every endpoint's pool shares.
type pool struct {
	dialer      net.Dialer
	idleTimeout time.Duration
	// probeAfter: a connection idle at least this long is probed for a
	// close by the upstream before it is reused.
	probeAfter time.Duration
}

func newCluster(cfg ClusterConfig, p *pool) *cluster {
	c := &cluster{name: cfg.Name, label: `envoy_cluster_name="` + cfg.Name + `"`}
	for _, a := range cfg.Endpoints {
		c.eps = append(c.eps, &endpoint{addr: a, c: c, pool: p, maxIdle: cfg.MaxIdleConns})
	}
	return c
}

// pick returns the next endpoint, round-robin.
func (c *cluster) pick() *endpoint {
	if len(c.eps) == 1 {
		return c.eps[0]
	}
	return c.eps[(c.next.Add(1)-1)%uint32(len(c.eps))]
}

// errConnectTimeout distinguishes a connect timeout in stats.
var errConnectTimeout = errors.New("upstream connect timeout")

// get returns an idle connection or dials a new one.
func (e *endpoint) get() (*upconn, error) {
	now := time.Now()
	e.mu.Lock()
	for n := len(e.idle); n > 0; n = len(e.idle) {
		uc := e.idle[n-1]
		e.idle[n-1] = nil
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		idle := now.Sub(uc.idleSince)
		if idle < e.pool.idleTimeout && (idle < e.pool.probeAfter || alive(uc.nc)) {
			uc.reused = true
			return uc, nil
		}
		e.discard(uc)
		e.mu.Lock()
	}
	e.mu.Unlock()
	return e.dial()
}

// dial opens a new connection.
func (e *endpoint) dial() (*upconn, error) {
	st := &e.c.stats
	st.cxTotal.Add(1)
	nc, err := e.pool.dialer.DialContext(context.Background(), "tcp", e.addr)
	if err != nil {
		st.cxConnectFail.Add(1)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			st.cxConnectTimeout.Add(1)
			return nil, errConnectTimeout
		}
		return nil, err
	}
	st.cxActive.Add(1)
	uc := &upconn{nc: nc, r: h1.NewReader(nc, 16<<10, 1<<20), ep: e}
	uc.dl.set = nc.SetDeadline
	return uc, nil
}

// put returns a connection to the idle pool, or closes it when the pool is
// full or closed.
func (e *endpoint) put(uc *upconn) {
	uc.idleSince = time.Now()
	e.mu.Lock()
	if e.closed || len(e.idle) >= e.maxIdle {
		e.mu.Unlock()
		e.discard(uc)
		return
	}
	e.idle = append(e.idle, uc)
	e.mu.Unlock()
}

// discard closes a connection for good.
func (e *endpoint) discard(uc *upconn) {
	_ = uc.nc.Close()
	e.c.stats.cxActive.Add(-1)
	e.c.stats.cxDestroy.Add(1)
}

// reap closes idle connections older than the idle timeout, or all of them
// when all is set.
func (e *endpoint) reap(all bool) {
	now := time.Now()
	e.mu.Lock()
	var drop []*upconn
	keep := e.idle[:0]
	for _, uc := range e.idle {
		if all || now.Sub(uc.idleSince) >= e.pool.idleTimeout {
			drop = append(drop, uc)
		} else {
			keep = append(keep, uc)
		}
	}
	clear(e.idle[len(keep):])
	e.idle = keep
	if all {
		e.closed = true
	}
	e.mu.Unlock()
	for _, uc := range drop {
		e.discard(uc)
	}
}

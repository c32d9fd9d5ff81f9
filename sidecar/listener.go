package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/runtime"
)

// listener accepts downstream connections and owns a filter chain and a
// route table.
type listener struct {
	sc    *Sidecar
	cfg   *ListenerConfig
	ln    net.Listener
	slot  *runtime.Slot
	label string // Prometheus labels
	stats listenerStats

	// Routes by host, as Envoy matches virtual host domains: exact names
	// first, then the longest "*.suffix", then "*".
	exact    map[string]*cluster
	suffixes []suffixRoute // longest first
	any      *cluster
	def      *cluster // listener's default cluster

	routeHeader string

	connMu sync.Mutex
	conns  map[*dconn]struct{}
	nextID *atomic.Uint64
}

type suffixRoute struct {
	suffix string // ".example.com"
	c      *cluster
}

var connIDs atomic.Uint64

func (s *Sidecar) newListener(ctx context.Context, cfg *ListenerConfig, idx int) (*listener, error) {
	l := &listener{
		sc: s, cfg: cfg, exact: map[string]*cluster{},
		label:       `envoy_http_conn_manager_prefix="` + cfg.Name + `"`,
		routeHeader: cfg.RouteHeader,
		conns:       map[*dconn]struct{}{},
		nextID:      &connIDs,
	}
	if cfg.Cluster != "" {
		l.def = s.clusters[cfg.Cluster]
	}
	for j, r := range cfg.Routes {
		c := s.clusters[r.Cluster]
		for k, h := range r.Hosts {
			h = strings.ToLower(h)
			where := fmt.Sprintf("listeners[%d].routes[%d].hosts[%d]", idx, j, k)
			switch {
			case h == "*":
				if l.any != nil {
					return nil, fmt.Errorf("%s: \"*\" is routed twice", where)
				}
				l.any = c
			case strings.HasPrefix(h, "*."):
				for _, sr := range l.suffixes {
					if sr.suffix == h[1:] {
						return nil, fmt.Errorf("%s: %q is routed twice", where, h)
					}
				}
				l.suffixes = append(l.suffixes, suffixRoute{h[1:], c})
			default:
				if _, dup := l.exact[h]; dup {
					return nil, fmt.Errorf("%s: %q is routed twice", where, h)
				}
				l.exact[h] = c
			}
		}
	}
	// Longest suffix first.
	for i := 1; i < len(l.suffixes); i++ {
		for j := i; j > 0 && len(l.suffixes[j].suffix) > len(l.suffixes[j-1].suffix); j-- {
			l.suffixes[j], l.suffixes[j-1] = l.suffixes[j-1], l.suffixes[j]
		}
	}
	var plugins []*runtime.Plugin
	for j := range cfg.Filters {
		fc := &cfg.Filters[j]
		p, err := s.loadFilter(ctx, fc)
		if err != nil {
			for _, q := range plugins {
				q.Close()
			}
			return nil, fmt.Errorf("listeners[%d].filters[%d] (%s): %w", idx, j, fc.Name, err)
		}
		plugins = append(plugins, p)
	}
	l.slot = runtime.NewSlot(runtime.NewChain(plugins...))
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		l.slot.Close()
		return nil, fmt.Errorf("listeners[%d] (%s): %w", idx, cfg.Name, err)
	}
	l.ln = ln
	return l, nil
}

// serve accepts connections until the listener closes.
func (l *listener) serve() {
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// net/http does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.sc.log.Warn("accept failed", "listener", l.cfg.Name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.sc.stop:
				return
			}
			continue
		}
		backoff = 0
		c := l.newConn(nc)
		l.connMu.Lock()
		if l.sc.draining.Load() {
			l.connMu.Unlock()
			nc.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.sc.connWG.Add(1)
		l.connMu.Unlock()
		l.stats.cxTotal.Add(1)
		l.stats.cxActive.Add(1)
		go c.serve()
	}
}

func (l *listener) forget(c *dconn) {
	l.connMu.Lock()
	delete(l.conns, c)
	l.connMu.Unlock()
	l.stats.cxActive.Add(-1)
	l.sc.connWG.Done()
}

// closeIdle wakes connections waiting for a next request so they close;
// connections with a request in flight finish it first.
func (l *listener) closeIdle() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	for c := range l.conns {
		if c.state.CompareAndSwap(connIdle, connClosing) {
			_ = c.nc.SetReadDeadline(time.Now()) // not c.rdl: the conn goroutine owns it
		}
	}
}

// closeAll closes every connection now.
func (l *listener) closeAll() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	for c := range l.conns {
		c.state.Store(connClosing)
		_ = c.nc.Close()
	}
}

// route picks the cluster for a request after its filters ran: the routing
// header when present (Envoy's cluster_header), else the host routes, else
// the listener's default cluster. details says why none was found.
func (l *listener) route(f runtime.Fields) (*cluster, string) {
	if v, ok := f.Get(l.routeHeader); ok {
		if c := l.sc.clusters[v]; c != nil {
			return c, ""
		}
		l.stats.noCluster.Add(1)
		return nil, "cluster_not_found"
	}
	if len(l.exact) > 0 || l.any != nil || len(l.suffixes) > 0 {
		host := hostOnly(f.Value(":authority"))
		if c := l.exact[host]; c != nil {
			return c, ""
		}
		if hasUpper(host) {
			host = strings.ToLower(host)
			if c := l.exact[host]; c != nil {
				return c, ""
			}
		}
		for _, sr := range l.suffixes {
			if len(host) > len(sr.suffix) && strings.HasSuffix(host, sr.suffix) {
				return sr.c, ""
			}
		}
		if l.any != nil {
			return l.any, ""
		}
	}
	if l.def != nil {
		return l.def, ""
	}
	l.stats.noRoute.Add(1)
	return nil, "route_not_found"
}

// hostOnly strips the port from an authority ("[::1]:80" → "[::1]").
func hostOnly(a string) string {
	for i := len(a) - 1; i >= 0; i-- {
		switch a[i] {
		case ':':
			return a[:i]
		case ']':
			return a
		}
	}
	return a
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// Package deploy brings a topology's plan up — writes its configuration
// files, starts its processes with package launch — and declares it ready
// only once the whole application answers: the entry URL returns a product
// page with details and reviews and no upstream error.
package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/launch"
	"github.com/nicrt/nicrt/bookinfo-harness/load"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

// Deployment is a running plan.
type Deployment struct {
	Plan  *topology.Plan
	Group *launch.Group
}

// Up writes the plan's files, starts its processes and waits until its entry
// serves a complete page (within o.ReadyTimeout, default 60 s). On failure
// nothing is left running.
func Up(ctx context.Context, p *topology.Plan, o launch.Options) (*Deployment, error) {
	for _, f := range p.Files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
			return nil, err
		}
	}
	g, err := launch.Start(ctx, p.Procs, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Topology, err)
	}
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if err := waitPage(ctx, p.Entry, g, timeout); err != nil {
		g.Stop()
		return nil, fmt.Errorf("%s: %w (logs in %s)", p.Topology, err, o.Dir)
	}
	return &Deployment{Plan: p, Group: g}, nil
}

// Stop ends every process of the deployment.
func (d *Deployment) Stop() error { return d.Group.Stop() }

// waitPage fetches url until it is a complete product page.
func waitPage(ctx context.Context, url string, g *launch.Group, timeout time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			page := load.ClassifyPage(body)
			switch {
			case rerr != nil:
				last = rerr.Error()
			case resp.StatusCode != 200:
				last = fmt.Sprintf("status %d", resp.StatusCode)
			case page.Degraded:
				last = "the page reports an upstream error"
			case page.Version == "":
				last = "the page names no reviews version"
			default:
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not serve a complete page within %v: %s", url, timeout, last)
		}
		select {
		case e := <-g.Exited():
			return e
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

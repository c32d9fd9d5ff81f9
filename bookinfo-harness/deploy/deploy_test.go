package deploy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo"
	"github.com/nicrt/nicrt/bookinfo-harness/launch"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

// With DEPLOY_TEST_SERVICE=service[:version] the test binary is one real
// Bookinfo service listening on its last argument, its upstreams taken from
// the environment, until SIGTERM.
func TestMain(m *testing.M) {
	if sv := os.Getenv("DEPLOY_TEST_SERVICE"); sv != "" {
		service, version, _ := strings.Cut(sv, ":")
		h, err := bookinfo.NewHandler(bookinfo.Config{Service: service, Version: version})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		ln, err := net.Listen("tcp", os.Args[len(os.Args)-1])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		bookinfo.Serve(ctx, ln, h)
		return
	}
	os.Exit(m.Run())
}

func free(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func hostPort(prefix, addr string) []string {
	h, p, _ := net.SplitHostPort(addr)
	return []string{prefix + "_HOSTNAME=" + h, prefix + "_SERVICE_PORT=" + p}
}

// plan runs productpage, details and reviews v1 as children; reviewsAddr is
// where productpage looks for reviews.
func plan(t *testing.T, reviewsAddr string) *topology.Plan {
	pp, details, reviews := free(t), free(t), free(t)
	if reviewsAddr == "" {
		reviewsAddr = reviews
	}
	spec := func(name, sv, addr string, env ...string) launch.Spec {
		return launch.Spec{Name: name, Path: os.Args[0], Args: []string{"-test.run=^$", addr}, Ready: []string{addr},
			Env: append(env, "DEPLOY_TEST_SERVICE="+sv, "HOSTNAME=reviews-v1")}
	}
	env := append(hostPort("DETAILS", details), hostPort("REVIEWS", reviewsAddr)...)
	return &topology.Plan{Topology: "test", Entry: "http://" + pp + "/productpage", Procs: []launch.Spec{
		spec("details", "details", details),
		spec("reviews", "reviews:v1", reviews),
		spec("productpage", "productpage", pp, env...),
	}, Files: []topology.File{{Path: t.TempDir() + "/conf/x.yaml", Data: []byte("a: 1\n")}}}
}

func TestUp(t *testing.T) {
	p := plan(t, "")
	d, err := Up(context.Background(), p, launch.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p.Files[0].Path); err != nil || string(b) != "a: 1\n" {
		t.Errorf("plan file: %q %v", b, err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestUpIncompletePage(t *testing.T) {
	// reviews is looked for where nothing listens: the page reports it.
	p := plan(t, free(t))
	dir := t.TempDir()
	start := time.Now()
	_, err := Up(context.Background(), p, launch.Options{Dir: dir, ReadyTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not serve a complete page within 1s: the page reports an upstream error") ||
		!strings.Contains(err.Error(), "logs in "+dir) {
		t.Errorf("error %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	// Nothing is left listening.
	for _, s := range p.Procs {
		if c, err := net.Dial("tcp", s.Ready[0]); err == nil {
			c.Close()
			t.Errorf("%s still listens", s.Name)
		}
	}
}

package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/runtime"
)

type fixture struct {
	host    *runtime.Host
	in, out *runtime.Slot
	srv     *Server
	addr    string
	ready   atomic.Bool
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	h, err := runtime.NewHost(context.Background(), runtime.HostConfig{Position: runtime.PositionSidecar, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{host: h, in: runtime.NewSlot(nil), out: runtime.NewSlot(nil)}
	f.ready.Store(true)
	srv, err := New(Config{
		Kind: "sidecar", Host: h, Token: token,
		Chains:     []Chain{{"inbound", f.in}, {"outbound", f.out}},
		Stats:      func(w io.Writer) error { _, err := io.WriteString(w, "dataplane_requests_total 7\n"); return err },
		ConfigDump: func() any { return map[string]string{"listener": "outbound"} },
		Ready:      f.ready.Load,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", token)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	f.srv, f.addr = srv, ln.Addr().String()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		f.in.Close()
		f.out.Close()
		h.Close(context.Background())
	})
	return f
}

func stamp(t *testing.T) []byte { return wasmbuild.Go(t, "../sidecar/testdata/guests/stamp") }

func TestListenRules(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:0", "", true},
		{"localhost:0", "", true},
		{"[::1]:15000", "", true},
		{"0.0.0.0:15000", "", false},
		{":15000", "", false},
		{"10.1.2.3:15000", "", false},
		{"0.0.0.0:15000", "tok", true},
	} {
		err := checkAddress(tc.addr, tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("%s token %q: %v", tc.addr, tc.token, err)
		}
		if err != nil && !strings.Contains(err.Error(), "without a token") {
			t.Errorf("%s: error does not say why: %v", tc.addr, err)
		}
	}
	if _, err := Listen("0.0.0.0:0", ""); err == nil {
		t.Fatal("Listen opened a non-loopback admin address without a token")
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, "s3cret")
	ctx := context.Background()
	var ae *Error
	_, err := NewClient(f.addr, "").List(ctx)
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Error(), "requires a token") {
		t.Fatalf("no token: %v", err)
	}
	_, err = NewClient(f.addr, "wrong").List(ctx)
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Error(), "wrong admin token") {
		t.Fatalf("wrong token: %v", err)
	}
	if err := NewClient(f.addr, "").Ready(ctx); err == nil {
		t.Fatal("ready answered without the token")
	}
	c := NewClient(f.addr, "s3cret")
	if _, err := c.List(ctx); err != nil {
		t.Fatalf("right token: %v", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// A browser page on another origin cannot post a module.
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/filters", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestLoadReplaceUnload(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	c := NewClient(f.addr, "")
	wasm := stamp(t)

	res, err := c.Load(ctx, wasm, LoadRequest{Chain: "outbound", Name: "lb", Configuration: "cluster=a", PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced != nil || res.Chain != "outbound" || res.Installed.Name != "lb" || res.CompileMS <= 0 || res.StartMS <= 0 {
		t.Fatalf("first load: %+v", res)
	}
	first := f.out.Chain().Find("lb")
	if first == nil || string(first.Config().Configuration) != "cluster=a" {
		t.Fatal("not installed in the outbound chain")
	}

	// Same name, no chain given: the chain holding "lb" is meant.
	res, err = c.Load(ctx, wasm, LoadRequest{Name: "lb", Configuration: "cluster=b", FailOpen: true, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced == nil || res.Replaced.Config != "cluster=a" || res.Installed.Config != "cluster=b" || !res.Installed.FailOpen {
		t.Fatalf("replace: %+v", res)
	}
	if !waitFor(first.Closed) {
		t.Fatal("the replaced plugin never closed")
	}

	// A failed load leaves the chain as it was and says why.
	before := f.out.Chain()
	var ae *Error
	_, err = c.Load(ctx, wasm, LoadRequest{Name: "lb", Configuration: "bogus=1"})
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Stage != "start" || !strings.Contains(strings.Join(ae.GuestLog, "\n"), `unknown configuration key "bogus"`) {
		t.Fatalf("rejected configuration: %v", err)
	}
	_, err = c.Load(ctx, []byte("not wasm"), LoadRequest{Name: "lb"})
	if !errors.As(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Error(), "not a WebAssembly module") {
		t.Fatalf("not wasm: %v", err)
	}
	if f.out.Chain() != before || string(f.out.Chain().Find("lb").Config().Configuration) != "cluster=b" {
		t.Fatal("a failed load changed the chain")
	}

	// New name with two chains and no chain given: ambiguous.
	_, err = c.Load(ctx, wasm, LoadRequest{Name: "other"})
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Error(), "inbound, outbound") {
		t.Fatalf("ambiguous chain: %v", err)
	}
	_, err = c.Load(ctx, wasm, LoadRequest{Chain: "nope", Name: "x"})
	if !errors.As(err, &ae) || !strings.Contains(ae.Error(), `no chain named "nope"`) {
		t.Fatalf("unknown chain: %v", err)
	}
	if _, err := c.Load(ctx, wasm, LoadRequest{Chain: "inbound", Name: "second", PoolSize: 1}); err != nil {
		t.Fatal(err)
	}

	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Chains) != 2 || len(list.Chains[0].Filters) != 1 || list.Chains[1].Filters[0].Name != "lb" || list.Chains[1].Filters[0].SHA256 == "" {
		t.Fatalf("list: %+v", list)
	}

	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dataplane_requests_total 7",
		`nicrt_wasm_streams_total{chain="outbound",plugin="lb"} 0`,
		`nicrt_wasm_live_vms{chain="inbound",plugin="second"} 1`,
		"nicrt_admin_loads_total 3",
		"nicrt_admin_load_failures_total 2",
	} {
		if !strings.Contains(stats, want) {
			t.Errorf("stats lack %q:\n%s", want, stats)
		}
	}
	dump, err := c.ConfigDump(ctx)
	if err != nil || !strings.Contains(string(dump), `"listener": "outbound"`) || !strings.Contains(string(dump), `"kind": "sidecar"`) {
		t.Fatalf("config dump: %v %s", err, dump)
	}

	un, err := c.Unload(ctx, "", "lb")
	if err != nil || un.Chain != "outbound" || un.Removed.Name != "lb" {
		t.Fatalf("unload: %+v %v", un, err)
	}
	if f.out.Chain().Find("lb") != nil {
		t.Fatal("still installed")
	}
	_, err = c.Unload(ctx, "outbound", "lb")
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unload twice: %v", err)
	}

	f.ready.Store(false)
	if err := c.Ready(ctx); !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("not ready: %v", err)
	}
}

func TestBadUploads(t *testing.T) {
	f := newFixture(t, "")
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"not multipart", "application/json", "{}", 415, "multipart/form-data"},
		{"no spec", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"wasm\"\r\n\r\nxx\r\n--b--\r\n", 400, `missing "spec" part`},
		{"no wasm", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{\"name\":\"x\"}\r\n--b--\r\n", 400, `missing "wasm" part`},
		{"unknown spec field", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{\"nmae\":\"x\"}\r\n--b--\r\n", 400, `unknown field "nmae"`},
		{"no name", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"spec\"\r\n\r\n{}\r\n--b\r\nContent-Disposition: form-data; name=\"wasm\"\r\n\r\nxx\r\n--b--\r\n", 400, "name is required"},
		{"extra part", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n", 400, `unexpected part "other"`},
	} {
		req, _ := http.NewRequest("POST", "http://"+f.addr+"/filters", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, e.Error)
		}
	}
	resp, err := http.Get("http://" + f.addr + "/nope")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown endpoint: %v %v", err, resp)
	}
	resp.Body.Close()
}

func waitFor(cond func() bool) bool {
	for i := 0; i < 200; i++ {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

package topology

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// argOf returns the value after flag in args.
func argOf(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestDirect(t *testing.T) {
	p, err := Build(Direct, Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	listen := map[string]string{}
	for _, s := range p.Procs {
		names = append(names, s.Name)
		if s.Args[0] != "bookinfo" || s.Args[1] != "serve" {
			t.Errorf("%s runs %v", s.Name, s.Args)
		}
		l := argOf(s.Args, "--listen")
		if len(s.Ready) != 1 || s.Ready[0] != l {
			t.Errorf("%s listens on %s but is ready on %v", s.Name, l, s.Ready)
		}
		listen[s.Name] = l
	}
	if strings.Join(names, ",") != "ratings,details,reviews-v3,productpage" {
		t.Errorf("processes %v", names)
	}
	// Each host has its own loopback address, in host order from 127.0.10.1.
	for name, want := range map[string]string{"productpage": "127.0.10.1", "details": "127.0.10.2", "reviews-v3": "127.0.10.5", "ratings": "127.0.10.6"} {
		if h, _, _ := net.SplitHostPort(listen[name]); h != want {
			t.Errorf("%s on %s, want host %s", name, listen[name], want)
		}
	}
	pp := p.Procs[3].Args
	if argOf(pp, "--details") != listen["details"] || argOf(pp, "--reviews") != listen["reviews-v3"] || argOf(pp, "--ratings") != listen["ratings"] {
		t.Errorf("productpage args %v", pp)
	}
	rv := p.Procs[2].Args
	if argOf(rv, "--ratings") != listen["ratings"] || argOf(rv, "--version") != "v3" || argOf(rv, "--podname") != "reviews-v3" {
		t.Errorf("reviews args %v", rv)
	}
	if p.Entry != "http://"+listen["productpage"]+"/productpage" {
		t.Errorf("entry %s", p.Entry)
	}
	if slices.Contains(pp, "--log-requests") || len(p.Filters) != 0 {
		t.Error("direct logs requests or has filters")
	}
	p, _ = Build(Direct, Options{LogRequests: true, Base: netip.MustParseAddr("127.0.20.10")})
	for _, s := range p.Procs {
		if !slices.Contains(s.Args, "--log-requests") || !strings.HasPrefix(s.Ready[0], "127.0.20.") {
			t.Errorf("%s: %v", s.Name, s.Args)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"mesh", Options{}, `unknown topology "mesh" (known: direct, sidecar-inbound, sidecar-both, nic-passthrough, nic-offload)`},
		{Direct, Options{Base: netip.MustParseAddr("10.0.0.1")}, "10.0.0.1 is not an IPv4 loopback address"},
		{Direct, Options{Base: netip.MustParseAddr("::1")}, "::1 is not an IPv4 loopback address"},
		{Direct, Options{Base: netip.MustParseAddr("127.0.0.253")}, "127.0.0.253 leaves no room for 6 hosts"},
		{Direct, Options{Port: func(netip.Addr) (int, error) { return 0, os.ErrPermission }}, "no free port on 127.0.10.1 (productpage): permission denied"},
	} {
		_, err := Build(tc.name, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	for _, name := range All {
		_, err := Build(name, Options{WasmDir: t.TempDir()})
		if err != nil && !IsUnavailable(err) && !strings.Contains(err.Error(), "make filters") {
			t.Errorf("%s: %v", name, err)
		}
		if IsUnavailable(err) && !strings.Contains(err.Error(), "topology "+name+" needs ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFreePort(t *testing.T) {
	ip := netip.MustParseAddr("127.0.10.1")
	port, err := FreePort(ip)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	ln.Close()
}

func TestParseFilter(t *testing.T) {
	dir := t.TempDir()
	route := filepath.Join(dir, "route", "jason.json")
	other := filepath.Join(dir, "mine.json")
	os.MkdirAll(filepath.Dir(route), 0o755)
	os.WriteFile(route, []byte(`{"http": []}`), 0o644)
	os.WriteFile(other, []byte(`{"service": "reviews"}`), 0o644)
	for _, tc := range []struct {
		arg, kind, source, err string
	}{
		{route, "route", route, ""},
		{"lb:" + other, "lb", other, ""},
		{"fault:" + route, "fault", route, ""},
		{other, "", "", "cannot tell which filter it is for"},
		{"lb:", "", "", "no file"},
		{"route:" + filepath.Join(dir, "nope.json"), "", "", "no such file"},
		{filepath.Join(dir, "route", "nope.json"), "", "", "no such file"},
	} {
		f, err := ParseFilter(tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || f.Kind != tc.kind || f.Source != tc.source || len(f.Config) == 0 {
			t.Errorf("%s: %+v, %v", tc.arg, f, err)
		}
	}
	if d := DefaultFilters(); len(d) != 1 || d[0].Kind != "lb" || !strings.Contains(string(d[0].Config), "round_robin") {
		t.Errorf("default filters %+v", d)
	}
}

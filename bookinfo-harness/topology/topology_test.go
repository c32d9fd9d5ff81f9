package topology

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

// sidecarPlan builds a sidecar topology with a wasm directory holding the
// filters it names (the plan only checks they exist).
func sidecarPlan(t *testing.T, name string, filters ...Filter) (*Plan, map[string]sidecarConfig) {
	t.Helper()
	wasm := t.TempDir()
	for _, k := range FilterKinds {
		os.WriteFile(filepath.Join(wasm, k+".wasm"), []byte("\x00asm"), 0o644)
	}
	p, err := Build(name, Options{Dir: t.TempDir(), WasmDir: wasm, Filters: filters})
	if err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]sidecarConfig{}
	for _, s := range p.Procs {
		if s.Args[0] != "sidecar" {
			continue
		}
		path := argOf(s.Args, "--config")
		var data []byte
		for _, f := range p.Files {
			if f.Path == path {
				data = f.Data
			}
		}
		var c sidecarConfig
		if err := yaml.Unmarshal(data, &c); err != nil || data == nil {
			t.Fatalf("%s: config %s: %v", s.Name, path, err)
		}
		cfgs[s.Name] = c
	}
	return p, cfgs
}

func listenerOf(c sidecarConfig, name string) *sidecarListener {
	for i := range c.Listeners {
		if c.Listeners[i].Name == name {
			return &c.Listeners[i]
		}
	}
	return nil
}

func clusterOf(c sidecarConfig, name string) []string {
	for _, cl := range c.Clusters {
		if cl.Name == name {
			return cl.Endpoints
		}
	}
	return nil
}

func procOf(p *Plan, name string) []string {
	for _, s := range p.Procs {
		if s.Name == name {
			return s.Args
		}
	}
	return nil
}

func TestSidecarInbound(t *testing.T) {
	p, cfgs := sidecarPlan(t, SidecarInbound)
	if len(cfgs) != 4 || len(p.Procs) != 8 {
		t.Fatalf("%d sidecars, %d processes", len(cfgs), len(p.Procs))
	}
	for _, host := range []string{"productpage", "details", "reviews-v3", "ratings"} {
		c := cfgs[host+"-sidecar"]
		in := listenerOf(c, "inbound")
		app := argOf(procOf(p, host), "--listen")
		if in == nil || in.Direction != "inbound" || in.Cluster != "local" || clusterOf(c, "local")[0] != app || len(c.Listeners) != 1 {
			t.Errorf("%s sidecar: %+v (service on %s)", host, c, app)
		}
	}
	pp := procOf(p, "productpage")
	if argOf(pp, "--reviews") != listenerOf(cfgs["reviews-v3-sidecar"], "inbound").Address ||
		argOf(pp, "--details") != listenerOf(cfgs["details-sidecar"], "inbound").Address {
		t.Errorf("productpage does not call through the inbound sidecars: %v", pp)
	}
	if argOf(procOf(p, "reviews-v3"), "--ratings") != listenerOf(cfgs["ratings-sidecar"], "inbound").Address {
		t.Error("reviews does not call ratings through its sidecar")
	}
	if p.Entry != "http://"+listenerOf(cfgs["productpage-sidecar"], "inbound").Address+"/productpage" {
		t.Errorf("entry %s", p.Entry)
	}
}

func TestSidecarBoth(t *testing.T) {
	p, cfgs := sidecarPlan(t, SidecarBoth)
	if len(cfgs) != 6 || len(p.Procs) != 12 {
		t.Fatalf("%d sidecars, %d processes", len(cfgs), len(p.Procs))
	}
	in := func(host string) string { return listenerOf(cfgs[host+"-sidecar"], "inbound").Address }
	for _, host := range []string{"productpage", "reviews-v1", "reviews-v2", "reviews-v3"} {
		c := cfgs[host+"-sidecar"]
		out := listenerOf(c, "outbound")
		if out == nil || out.Direction != "outbound" || argOf(procOf(p, host), "--outbound") != out.Address {
			t.Fatalf("%s: outbound %+v, service args %v", host, out, procOf(p, host))
		}
		if len(out.Filters) != 1 || out.Filters[0].Name != "lb-0" || filepath.Base(out.Filters[0].Wasm) != "lb.wasm" {
			t.Errorf("%s filters %+v", host, out.Filters)
		}
		if got := clusterOf(c, "reviews-v2"); len(got) != 1 || got[0] != in("reviews-v2") {
			t.Errorf("%s: reviews-v2 → %v", host, got)
		}
		if got := clusterOf(c, "reviews"); len(got) != 3 {
			t.Errorf("%s: reviews → %v", host, got)
		}
		if got := clusterOf(c, "ratings"); len(got) != 1 || got[0] != in("ratings") {
			t.Errorf("%s: ratings → %v", host, got)
		}
		// Services name their upstreams logically; the sidecar resolves.
		if argOf(procOf(p, host), "--details") != "" || argOf(procOf(p, host), "--reviews") != "" {
			t.Errorf("%s names upstream addresses: %v", host, procOf(p, host))
		}
	}
	for _, host := range []string{"details", "ratings"} {
		if listenerOf(cfgs[host+"-sidecar"], "outbound") != nil || slices.Contains(procOf(p, host), "--outbound") {
			t.Errorf("%s calls nothing but has an outbound listener", host)
		}
	}
	// The filter's configuration file holds the default lb chain.
	path := listenerOf(cfgs["productpage-sidecar"], "outbound").Filters[0].ConfigurationFile
	for _, f := range p.Files {
		if f.Path == path && !strings.Contains(string(f.Data), `"round_robin"`) {
			t.Errorf("filter config %s", f.Data)
		}
	}
	if len(p.Filters) != 1 || p.Filters[0].Kind != "lb" {
		t.Errorf("plan filters %+v", p.Filters)
	}

	// A chosen chain replaces the default.
	route := Filter{Kind: "route", Source: "x.json", Config: []byte(`{"hosts":["reviews"]}`)}
	fault := Filter{Kind: "fault", Source: "y.json", Config: []byte(`{}`)}
	p, cfgs = sidecarPlan(t, SidecarBoth, route, fault)
	fs := listenerOf(cfgs["reviews-v2-sidecar"], "outbound").Filters
	if len(fs) != 2 || fs[0].Name != "route-0" || fs[1].Name != "fault-1" || len(p.Filters) != 2 {
		t.Errorf("chain %+v", fs)
	}
}

func TestHave(t *testing.T) {
	_, err := Build(SidecarBoth, Options{Have: func(part string) bool { return part != "sidecar" }})
	if !IsUnavailable(err) || !strings.Contains(err.Error(), "topology sidecar-both needs the sidecar") {
		t.Errorf("error %v", err)
	}
	_, err = Build(NICOffload, Options{Have: func(part string) bool { return part != "nic" }})
	if !IsUnavailable(err) || !strings.Contains(err.Error(), "topology nic-offload needs the live NIC") {
		t.Errorf("error %v", err)
	}
	if _, err := Build(SidecarBoth, Options{Have: func(string) bool { return true }, WasmDir: t.TempDir(), Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "filter lb: ") || !strings.Contains(err.Error(), "make filters") {
		t.Errorf("missing wasm: %v", err)
	}
}

func TestPathsAbsolute(t *testing.T) {
	wasm := t.TempDir()
	os.WriteFile(filepath.Join(wasm, "lb.wasm"), []byte("\x00asm"), 0o644)
	p, err := Build(SidecarBoth, Options{Dir: "rel/dir", WasmDir: wasm})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		if !filepath.IsAbs(f.Path) {
			t.Errorf("file %s is relative", f.Path)
		}
	}
}

// argsOf returns every value of a repeated flag.
func argsOf(args []string, flag string) []string {
	var vs []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			vs = append(vs, args[i+1])
		}
	}
	return vs
}

func TestNICPassthrough(t *testing.T) {
	p, err := Build(NICPassthrough, Options{NICModel: "passthrough-100us"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Procs) != 4 || p.NICModel != "passthrough-100us" || len(p.Filters) != 0 {
		t.Fatalf("%d processes, model %q, filters %v", len(p.Procs), p.NICModel, p.Filters)
	}
	for _, s := range p.Procs {
		if !slices.Contains(s.Args, "--nic") || argOf(s.Args, "--nic-model") != "passthrough-100us" || slices.Contains(s.Args, "--nic-filter") ||
			argOf(s.Args, "--nic-stats") != p.NICStats[s.Name] || !filepath.IsAbs(p.NICStats[s.Name]) {
			t.Errorf("%s: %v (stats files %v)", s.Name, s.Args, p.NICStats)
		}
		// The NIC's admin API: on the host's own address, on a port of its
		// own, listed with the process so the launcher waits for it.
		adm, listen := argOf(s.Args, "--nic-admin"), argOf(s.Args, "--listen")
		if ah, _, _ := strings.Cut(adm, ":"); adm == "" || adm == listen || !strings.HasPrefix(listen, ah+":") || !slices.Contains(s.Ready, adm) {
			t.Errorf("%s: admin %q, listen %q, ready %v", s.Name, adm, listen, s.Ready)
		}
	}
	if argOf(procOf(p, "productpage"), "--reviews") != argOf(procOf(p, "reviews-v3"), "--listen") {
		t.Error("productpage does not call reviews-v3 directly")
	}
	if p, _ := Build(NICPassthrough, Options{}); p.NICModel != "default" || slices.Contains(p.Procs[0].Args, "--nic-model") {
		t.Errorf("default model: %q %v", p.NICModel, p.Procs[0].Args)
	}
}

func TestNICOffload(t *testing.T) {
	wasm := t.TempDir()
	os.WriteFile(filepath.Join(wasm, "lb.wasm"), []byte("\x00asm"), 0o644)
	p, err := Build(NICOffload, Options{WasmDir: wasm, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Procs) != 6 || len(p.Filters) != 1 {
		t.Fatalf("%d processes, filters %v", len(p.Procs), p.Filters)
	}
	listen := func(name string) string { return argOf(procOf(p, name), "--listen") }
	for _, name := range []string{"productpage", "reviews-v1", "reviews-v2", "reviews-v3"} {
		args := procOf(p, name)
		fs := argsOf(args, "--nic-filter")
		if len(fs) != 1 || !strings.HasPrefix(fs[0], filepath.Join(wasm, "lb.wasm")+":@") {
			t.Errorf("%s filters %v", name, fs)
		}
		cfg := strings.SplitN(fs[0], ":@", 2)[1]
		found := false
		for _, f := range p.Files {
			found = found || (f.Path == cfg && strings.Contains(string(f.Data), "round_robin"))
		}
		if !found {
			t.Errorf("%s: filter config %s not in the plan's files", name, cfg)
		}
		cl := argsOf(args, "--nic-cluster")
		if !slices.Contains(cl, "reviews-v2="+listen("reviews-v2")) || !slices.Contains(cl, "ratings="+listen("ratings")) ||
			!slices.Contains(cl, "reviews="+listen("reviews-v1")+","+listen("reviews-v2")+","+listen("reviews-v3")) {
			t.Errorf("%s clusters %v", name, cl)
		}
		if argOf(args, "--details") != "" || argOf(args, "--ratings") != "" {
			t.Errorf("%s names upstream addresses: %v", name, args)
		}
	}
	for _, name := range []string{"details", "ratings"} {
		args := procOf(p, name)
		if !slices.Contains(args, "--nic") || slices.Contains(args, "--nic-filter") || slices.Contains(args, "--nic-cluster") {
			t.Errorf("%s: %v", name, args)
		}
	}
}

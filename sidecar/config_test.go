package sidecar

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f.wasm", "not really wasm; ParseConfig only checks it exists")
	writeFile(t, dir, "route.json", `{"http":[]}`)
	c, err := ParseConfig([]byte(`
listeners:
  - name: in
    address: 127.0.0.1:15006
    cluster: app
    filters:
      - name: a
        wasm: f.wasm
        configuration: {service: reviews, clusters: [v1, v2], weights: {v1: 90}}
      - name: b
        wasm: f.wasm
        configuration_file: route.json
      - name: c
        wasm: f.wasm
        configuration: "plain string"
clusters:
  - name: app
    endpoints: ["127.0.0.1:9080"]
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Admin.Address == DefaultAdminAddress && c.ServerName == "nicrt", "defaults: %+v", c.Admin)
	must(t, c.Timeouts.Request.D() == 15*time.Second && c.Timeouts.RequestHeaders.D() == 10*time.Second, "timeouts %+v", c.Timeouts)
	must(t, c.Limits.MaxHeaders == 100 && c.Limits.MaxRequestHeadersKB == 60, "limits %+v", c.Limits)
	l := c.Listeners[0]
	must(t, l.Direction == "inbound" && l.RouteHeader == "x-nicrt-cluster", "listener defaults %+v", l)
	must(t, c.Clusters[0].MaxIdleConns == DefaultMaxIdleConns, "max idle %d", c.Clusters[0].MaxIdleConns)
	var obj map[string]any
	must(t, json.Unmarshal(l.Filters[0].Configuration.Data, &obj) == nil && obj["service"] == "reviews", "object configuration as JSON: %s", l.Filters[0].Configuration.Data)
	must(t, string(l.Filters[1].Configuration.Data) == `{"http":[]}`, "configuration_file: %s", l.Filters[1].Configuration.Data)
	must(t, string(l.Filters[2].Configuration.Data) == "plain string", "string configuration: %s", l.Filters[2].Configuration.Data)
	must(t, c.path("f.wasm") == filepath.Join(dir, "f.wasm"), "relative paths resolve against the file's directory")
	// The dump never shows the token.
	c.Admin.Token = "s3cret"
	b, _ := json.Marshal(c.Redacted())
	must(t, !strings.Contains(string(b), "s3cret") && strings.Contains(string(b), `"configuration":"plain string"`), "dump: %s", b)
}

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f.wasm", "x")
	base := func(extra string) string {
		return "listeners:\n  - {name: in, address: \"127.0.0.1:1\", cluster: app}\nclusters:\n  - {name: app, endpoints: [\"127.0.0.1:2\"]}\n" + extra
	}
	for _, tc := range []struct{ name, in, want string }{
		{"unknown top", base("adminn: {}\n"), `line 5: top level: unknown field "adminn" (did you mean "admin"?)`},
		{"unknown nested", "listeners:\n  - name: in\n    adress: 127.0.0.1:1\n", `line 3: listeners[0]: unknown field "adress" (did you mean "address"?)`},
		{"deep unknown", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters:\n      - {name: f, wasm: f.wasm, failopen: true}\n", `listeners[0].filters[0]: unknown field "failopen" (did you mean "fail_open"?)`},
		{"duplicate key", base("server_name: a\nserver_name: b\n"), `line 6: top level: field "server_name" given twice`},
		{"bad duration", base("timeouts: {request: 5 seconds}\n"), `line 5: "5 seconds" is not a duration`},
		{"wrong type", base("limits: {max_headers: many}\n"), `cannot unmarshal`},
		{"no listeners", "clusters: []\n", "listeners: at least one listener is needed"},
		{"unknown cluster", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", cluster: nope}\n", `listeners[0].cluster: no cluster named "nope"`},
		{"bad route cluster", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", routes: [{hosts: [a], cluster: x}]}\n", `listeners[0].routes[0].cluster: no cluster named "x"`},
		{"route without hosts", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", routes: [{cluster: x}]}\n", `listeners[0].routes[0].hosts: a route needs at least one host`},
		{"bad host pattern", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", routes: [{hosts: [\"a:80\"], cluster: x}]}\n", `listeners[0].routes[0].hosts[0]: "a:80"`},
		{"bad address", "listeners:\n  - {name: in, address: nowhere}\n", `listeners[0].address: "nowhere" is not host:port`},
		{"empty host", "listeners:\n  - {name: in, address: \":80\"}\n", `listeners[0].address: ":80" has no host`},
		{"direction", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", direction: sideways}\n", `listeners[0].direction: "sideways"`},
		{"dup listener", "listeners:\n  - {name: in, address: \"127.0.0.1:1\"}\n  - {name: in, address: \"127.0.0.1:2\"}\n", `listeners[1].name: listener "in" defined twice`},
		{"dup cluster", base("") + "  - {name: app, endpoints: [\"127.0.0.1:3\"]}\n", `clusters[1].name: cluster "app" defined twice`},
		{"no endpoints", "listeners:\n  - {name: in, address: \"127.0.0.1:1\"}\nclusters:\n  - {name: c}\n", `clusters[0].endpoints: cluster "c" has no endpoints`},
		{"bad endpoint", "listeners:\n  - {name: in, address: \"127.0.0.1:1\"}\nclusters:\n  - {name: c, endpoints: [x]}\n", `clusters[0].endpoints[0]: "x" is not host:port`},
		{"bad name", "listeners:\n  - {name: \"in put\", address: \"127.0.0.1:1\"}\n", `listeners[0].name: "in put": only letters`},
		{"missing wasm file", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters: [{name: f, wasm: missing.wasm}]\n", `listeners[0].filters[0].wasm: stat`},
		{"no wasm", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters: [{name: f}]\n", `listeners[0].filters[0].wasm: the module path is required`},
		{"dup filter", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters: [{name: f, wasm: f.wasm}, {name: f, wasm: f.wasm}]\n", `listeners[0].filters[1].name: filter "f" appears twice`},
		{"both configurations", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters: [{name: f, wasm: f.wasm, configuration: x, configuration_file: y}]\n", `give configuration or configuration_file, not both`},
		{"pool size", "listeners:\n  - name: in\n    address: 127.0.0.1:1\n    filters: [{name: f, wasm: f.wasm, pool_size: 1000}]\n", `listeners[0].filters[0].pool_size: 1000`},
		{"route header", "listeners:\n  - {name: in, address: \"127.0.0.1:1\", route_header: \"bad header\"}\n", `listeners[0].route_header: "bad header"`},
		{"log level", base("wasm: {log_level: loud}\n"), `wasm.log_level: unknown log level "loud"`},
		{"token twice", base("admin: {token: a, token_file: b}\n"), `admin: give token or token_file, not both`},
		{"token file", base("admin: {token_file: nope}\n"), `admin.token_file:`},
		{"admin address", base("admin: {address: nowhere}\n"), `admin.address: "nowhere" is not host:port`},
		{"list expected", "listeners: {name: in}\n", `line 1: listeners: want a list`},
		{"not yaml", "listeners: [\n", "not valid YAML"},
		{"empty", "", "empty configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.in), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "bad.yaml", "listeners: []\nbogus: 1\n")
	_, err := LoadConfig(p)
	must(t, err != nil && strings.HasPrefix(err.Error(), p+": line 2"), "error %v should start with the file and line", err)
}

// TestEnvoyConfig checks the generated envoy.yaml: it parses, every route
// names a defined cluster or the routing header, every wasm filter points
// at the module file with its configuration, and the listeners and
// clusters match the sidecar's.
func TestEnvoyConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "lb.wasm", "x")
	c, err := ParseConfig([]byte(`
node_id: productpage
listeners:
  - name: inbound
    address: 127.0.0.1:15006
    cluster: local
  - name: outbound
    direction: outbound
    address: 127.0.0.1:15001
    routes:
      - {hosts: [reviews], cluster: reviews}
      - {hosts: ["*.svc"], cluster: local}
    filters:
      - name: lb
        wasm: lb.wasm
        root_id: lb_root
        vm_id: lb_vm
        fail_open: true
        configuration: {service: reviews, clusters: [reviews-v1, reviews-v2]}
clusters:
  - {name: local, endpoints: ["127.0.0.1:9080"]}
  - {name: reviews, endpoints: ["127.0.0.1:9081", "127.0.0.1:9082"]}
  - {name: reviews-v1, endpoints: ["127.0.0.1:9081"]}
  - {name: reviews-v2, endpoints: ["127.0.0.1:9082"]}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := WriteEnvoyConfig(&out, c); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out.String())
	}
	get := func(v any, path ...any) any {
		t.Helper()
		for _, p := range path {
			switch k := p.(type) {
			case string:
				mm, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("at %v: not a mapping in\n%s", path, out.String())
				}
				v = mm[k]
			case int:
				l, ok := v.([]any)
				if !ok || k >= len(l) {
					t.Fatalf("at %v: not a list long enough in\n%s", path, out.String())
				}
				v = l[k]
			}
		}
		return v
	}
	must(t, get(doc, "admin", "address", "socket_address", "port_value") == 15000, "admin address")
	must(t, get(doc, "node", "id") == "productpage", "node id")
	clusters := map[string]bool{}
	for i := range get(doc, "static_resources", "clusters").([]any) {
		cl := get(doc, "static_resources", "clusters", i)
		name := get(cl, "name").(string)
		clusters[name] = true
		must(t, get(cl, "type") == "STATIC" && get(cl, "lb_policy") == "ROUND_ROBIN", "cluster %s", name)
		must(t, get(cl, "load_assignment", "cluster_name") == name, "cluster_name of %s", name)
	}
	for _, cl := range c.Clusters {
		must(t, clusters[cl.Name], "cluster %s missing from envoy.yaml", cl.Name)
	}
	n := len(get(doc, "static_resources", "clusters", 1, "load_assignment", "endpoints", 0, "lb_endpoints").([]any))
	must(t, n == 2, "reviews has %d endpoints in envoy.yaml", n)
	listeners := get(doc, "static_resources", "listeners").([]any)
	must(t, len(listeners) == 2, "%d listeners", len(listeners))
	for i, l := range c.Listeners {
		el := listeners[i]
		must(t, get(el, "name") == l.Name, "listener name")
		must(t, get(el, "address", "socket_address", "address") == "127.0.0.1", "listener address")
		hcm := get(el, "filter_chains", 0, "filters", 0, "typed_config")
		must(t, strings.HasSuffix(get(hcm, "@type").(string), "HttpConnectionManager"), "hcm type")
		must(t, get(hcm, "stat_prefix") == l.Name, "stat prefix")
		// Every route goes to a defined cluster or by the routing header.
		for _, vh := range get(hcm, "route_config", "virtual_hosts").([]any) {
			for _, r := range get(vh, "routes").([]any) {
				route := get(r, "route").(map[string]any)
				if ch, ok := route["cluster_header"]; ok {
					must(t, ch == "x-nicrt-cluster", "cluster_header %v", ch)
					must(t, get(r, "match", "headers", 0, "name") == "x-nicrt-cluster", "header route must require the header")
					continue
				}
				must(t, clusters[route["cluster"].(string)], "route to undefined cluster %v", route["cluster"])
			}
		}
		hf := get(hcm, "http_filters").([]any)
		must(t, len(hf) == len(l.Filters)+1, "http filters: %d", len(hf))
		must(t, get(hf, len(hf)-1, "name") == "envoy.filters.http.router", "router must be last")
		for j, f := range l.Filters {
			cfg := get(hf, j, "typed_config", "config")
			must(t, get(hf, j, "name") == "envoy.filters.http.wasm", "wasm filter name")
			must(t, get(cfg, "name") == f.Name && get(cfg, "root_id") == f.RootID && get(cfg, "fail_open") == f.FailOpen, "wasm config %v", cfg)
			must(t, get(cfg, "vm_config", "vm_id") == f.VMID, "vm_id")
			must(t, get(cfg, "configuration", "value") == string(f.Configuration.Data), "configuration %v", get(cfg, "configuration", "value"))
			file := get(cfg, "vm_config", "code", "local", "filename").(string)
			_, err := os.Stat(file)
			must(t, filepath.IsAbs(file) && err == nil, "module file %s: %v", file, err)
		}
	}
	hcm := get(listeners[1], "filter_chains", 0, "filters", 0, "typed_config")
	must(t, get(hcm, "route_config", "virtual_hosts", 0, "domains", 0) == "reviews", "host route domains")
	must(t, get(listeners[1], "traffic_direction") == "OUTBOUND", "traffic direction")
}

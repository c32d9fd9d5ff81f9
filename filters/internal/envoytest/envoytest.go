// Package envoytest reads the example Envoy configurations in examples/ and
// checks what can be checked without running Envoy (which is not available
// where nicrt is built): that each file parses, wires a listener through an
// http_connection_manager to envoy.filters.http.wasm and the router, points
// the wasm filter at a nicrt filter that exists and at a configuration file
// that exists and matches the embedded configuration, and routes only to
// clusters it defines.
//
// It checks the subset of Envoy's bootstrap that the examples use; fields it
// does not know are not validated (Envoy would).
package envoytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Envoy type URLs the examples must use.
const (
	TypeHCM         = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	TypeWasm        = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
	TypeRouter      = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	TypeStringValue = "type.googleapis.com/google.protobuf.StringValue"
	RuntimeV8       = "envoy.wasm.runtime.v8"
	// ConfigComment introduces, in a comment right above a wasm filter's
	// "configuration" key, the repository path of the JSON file embedded there.
	ConfigComment = "nicrt-config:"
)

// Bootstrap is what the checks need from one Envoy configuration file.
type Bootstrap struct {
	// Listeners are the static listeners, in file order.
	Listeners []Listener
	// Clusters are the static clusters' names, in file order.
	Clusters []string
}

// Listener is one listener's HTTP connection manager.
type Listener struct {
	Name string
	// Filters is the HTTP filter chain, in order.
	Filters []HTTPFilter
	// Routes are the route actions of every virtual host.
	Routes []Route
}

// HTTPFilter is one entry of http_filters.
type HTTPFilter struct {
	Name string
	Type string
	// Wasm is set for envoy.filters.http.wasm.
	Wasm *Wasm
}

// Wasm is a wasm filter's plugin configuration.
type Wasm struct {
	PluginName string
	Runtime    string
	// Filename is vm_config.code.local.filename.
	Filename string
	// ConfigType is the configuration's @type; Configuration its value.
	ConfigType    string
	Configuration string
	// ConfigFile is the path named by the nicrt-config comment, if any.
	ConfigFile string
}

// Route is a route action: a fixed cluster or a cluster_header.
type Route struct {
	Cluster       string
	ClusterHeader string
}

type file struct {
	StaticResources struct {
		Listeners []struct {
			Name         string `yaml:"name"`
			FilterChains []struct {
				Filters []struct {
					Name        string `yaml:"name"`
					TypedConfig hcm    `yaml:"typed_config"`
				} `yaml:"filters"`
			} `yaml:"filter_chains"`
		} `yaml:"listeners"`
		Clusters []struct {
			Name           string `yaml:"name"`
			LoadAssignment struct {
				ClusterName string `yaml:"cluster_name"`
				Endpoints   []struct {
					LbEndpoints []any `yaml:"lb_endpoints"`
				} `yaml:"endpoints"`
			} `yaml:"load_assignment"`
		} `yaml:"clusters"`
	} `yaml:"static_resources"`
}

type hcm struct {
	Type        string `yaml:"@type"`
	RouteConfig struct {
		VirtualHosts []struct {
			Routes []struct {
				Route struct {
					Cluster       string `yaml:"cluster"`
					ClusterHeader string `yaml:"cluster_header"`
				} `yaml:"route"`
			} `yaml:"routes"`
		} `yaml:"virtual_hosts"`
	} `yaml:"route_config"`
	HTTPFilters []struct {
		Name        string `yaml:"name"`
		TypedConfig struct {
			Type   string `yaml:"@type"`
			Config struct {
				Name     string `yaml:"name"`
				VMConfig struct {
					Runtime string `yaml:"runtime"`
					Code    struct {
						Local struct {
							Filename string `yaml:"filename"`
						} `yaml:"local"`
					} `yaml:"code"`
				} `yaml:"vm_config"`
				Configuration *struct {
					Type  string `yaml:"@type"`
					Value string `yaml:"value"`
				} `yaml:"configuration"`
			} `yaml:"config"`
		} `yaml:"typed_config"`
	} `yaml:"http_filters"`
}

// Load parses an Envoy configuration file. Structural problems (a network
// filter that is not an http_connection_manager, a cluster whose
// load_assignment names another, a configuration without nicrt-config
// comment) are errors here; the rest is for Check.
func Load(path string) (*Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f file
	if err := root.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	comments := configComments(&root)
	b := &Bootstrap{}
	for _, l := range f.StaticResources.Listeners {
		for _, fc := range l.FilterChains {
			for _, nf := range fc.Filters {
				if nf.TypedConfig.Type != TypeHCM {
					return nil, fmt.Errorf("%s: listener %s: network filter %s is not an http_connection_manager (@type %q)", path, l.Name, nf.Name, nf.TypedConfig.Type)
				}
				out := Listener{Name: l.Name}
				for _, vh := range nf.TypedConfig.RouteConfig.VirtualHosts {
					for _, r := range vh.Routes {
						out.Routes = append(out.Routes, Route{Cluster: r.Route.Cluster, ClusterHeader: r.Route.ClusterHeader})
					}
				}
				for _, hf := range nf.TypedConfig.HTTPFilters {
					f := HTTPFilter{Name: hf.Name, Type: hf.TypedConfig.Type}
					if hf.TypedConfig.Type == TypeWasm {
						c := hf.TypedConfig.Config
						w := &Wasm{PluginName: c.Name, Runtime: c.VMConfig.Runtime, Filename: c.VMConfig.Code.Local.Filename}
						if c.Configuration != nil {
							w.ConfigType, w.Configuration = c.Configuration.Type, c.Configuration.Value
							if len(comments) == 0 {
								return nil, fmt.Errorf("%s: wasm filter %s: no %q comment above its configuration", path, c.Name, ConfigComment)
							}
							w.ConfigFile, comments = comments[0], comments[1:]
						}
						f.Wasm = w
					}
					out.Filters = append(out.Filters, f)
				}
				b.Listeners = append(b.Listeners, out)
			}
		}
	}
	for _, c := range f.StaticResources.Clusters {
		if c.LoadAssignment.ClusterName != c.Name {
			return nil, fmt.Errorf("%s: cluster %s: load_assignment.cluster_name is %q", path, c.Name, c.LoadAssignment.ClusterName)
		}
		n := 0
		for _, e := range c.LoadAssignment.Endpoints {
			n += len(e.LbEndpoints)
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: cluster %s has no endpoint", path, c.Name)
		}
		b.Clusters = append(b.Clusters, c.Name)
	}
	return b, nil
}

var commentRE = regexp.MustCompile(`#\s*` + regexp.QuoteMeta(ConfigComment) + `\s*(\S+)`)

// configComments returns, in document order, the paths named in comments
// above "configuration" keys.
func configComments(n *yaml.Node) []string {
	var out []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value == "configuration" {
					if m := commentRE.FindStringSubmatch(k.HeadComment); m != nil {
						out = append(out, m[1])
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// Check returns every problem found in b: the chain, the wasm filters
// (relative to the repository root), and the clusters routes name.
func Check(b *Bootstrap, repoRoot string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(b.Listeners) == 0 {
		bad("no listener with an http_connection_manager")
	}
	defined := map[string]bool{}
	for _, c := range b.Clusters {
		if defined[c] {
			bad("cluster %s is defined twice", c)
		}
		defined[c] = true
	}
	for _, l := range b.Listeners {
		if n := len(l.Filters); n == 0 || l.Filters[n-1].Name != "envoy.filters.http.router" || l.Filters[n-1].Type != TypeRouter {
			bad("listener %s: the last HTTP filter must be envoy.filters.http.router", l.Name)
		}
		wasms := 0
		for _, f := range l.Filters {
			if f.Wasm == nil {
				continue
			}
			wasms++
			if f.Name != "envoy.filters.http.wasm" {
				bad("listener %s: wasm filter named %q, want envoy.filters.http.wasm", l.Name, f.Name)
			}
			errs = append(errs, checkWasm(l.Name, f.Wasm, repoRoot)...)
		}
		if wasms == 0 {
			bad("listener %s has no envoy.filters.http.wasm filter", l.Name)
		}
		if len(l.Routes) == 0 {
			bad("listener %s has no route", l.Name)
		}
		for _, r := range l.Routes {
			switch {
			case r.Cluster != "" && !defined[r.Cluster]:
				bad("listener %s: a route names undefined cluster %s", l.Name, r.Cluster)
			case r.Cluster == "" && r.ClusterHeader == "":
				bad("listener %s: a route has neither cluster nor cluster_header", l.Name)
			}
		}
	}
	return errs
}

var wasmFileRE = regexp.MustCompile(`^filters/([a-z0-9_]+)\.wasm$`)

func checkWasm(listener string, w *Wasm, repoRoot string) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("listener %s, wasm plugin %s: %s", listener, w.PluginName, fmt.Sprintf(format, args...)))
	}
	if w.Runtime != RuntimeV8 {
		bad("runtime %q, want %s", w.Runtime, RuntimeV8)
	}
	m := wasmFileRE.FindStringSubmatch(w.Filename)
	if m == nil {
		bad("code filename %q is not filters/<name>.wasm", w.Filename)
	} else if _, err := os.Stat(filepath.Join(repoRoot, "filters", m[1], "main.go")); err != nil {
		bad("code filename %s: no filter source filters/%s/main.go to build it from", w.Filename, m[1])
	}
	if w.ConfigType != "" && w.ConfigType != TypeStringValue {
		bad("configuration @type %q, want %s", w.ConfigType, TypeStringValue)
	}
	if w.ConfigFile != "" {
		data, err := os.ReadFile(filepath.Join(repoRoot, w.ConfigFile))
		switch {
		case err != nil:
			bad("%s", err)
		case !SameJSON(data, []byte(w.Configuration)):
			bad("embedded configuration differs from %s", w.ConfigFile)
		}
	}
	return errs
}

// SameJSON reports whether a and b are the same JSON value (formatting aside).
func SameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// Filter returns the wasm filters of every listener built from filters/<name>.wasm.
func (b *Bootstrap) Filter(name string) []*Wasm {
	var out []*Wasm
	for _, l := range b.Listeners {
		for _, f := range l.Filters {
			if f.Wasm != nil && strings.TrimSuffix(filepath.Base(f.Wasm.Filename), ".wasm") == name {
				out = append(out, f.Wasm)
			}
		}
	}
	return out
}

// ClusterHeaders returns the cluster_header names the routes use.
func (b *Bootstrap) ClusterHeaders() map[string]bool {
	out := map[string]bool{}
	for _, l := range b.Listeners {
		for _, r := range l.Routes {
			if r.ClusterHeader != "" {
				out[r.ClusterHeader] = true
			}
		}
	}
	return out
}

// Defines reports whether a static cluster of that name exists.
func (b *Bootstrap) Defines(cluster string) bool {
	for _, c := range b.Clusters {
		if c == cluster {
			return true
		}
	}
	return false
}

// Example loads examples/<name>/envoy.yaml under repoRoot, reports every
// problem Check finds as a test error, and returns the file and its wasm
// filters built from filters/<name>.wasm (failing the test if there is none).
func Example(t testing.TB, repoRoot, name string) (*Bootstrap, []*Wasm) {
	t.Helper()
	b, err := Load(filepath.Join(repoRoot, "examples", name, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range Check(b, repoRoot) {
		t.Error(err)
	}
	ws := b.Filter(name)
	if len(ws) == 0 {
		t.Fatalf("examples/%s/envoy.yaml does not load filters/%s.wasm", name, name)
	}
	return b, ws
}

// CheckRouting reports as test errors a routing header that no route's
// cluster_header reads, and clusters the filter can emit that the file does
// not define.
func CheckRouting(t testing.TB, b *Bootstrap, header string, clusters []string) {
	t.Helper()
	if !b.ClusterHeaders()[header] {
		t.Errorf("the filter writes %s but no route has cluster_header %s (routes read %v)", header, header, b.ClusterHeaders())
	}
	for _, c := range clusters {
		if !b.Defines(c) {
			t.Errorf("the filter can route to cluster %s, which is not defined (defined: %v)", c, b.Clusters)
		}
	}
}

// Routing is what a filter configuration makes the filter emit: the header
// it writes and every cluster name it can write there.
type Routing struct {
	Header   string
	Clusters []string
}

// CheckExample is the whole check of examples/<name>/envoy.yaml for one
// filter: Example's checks, then for each embedded configuration, parse
// (the filter's own parser) must accept it, the routes must read its header
// and define its clusters (CheckRouting), and accept (which starts the filter
// with it) runs in a subtest. parse may be nil for a filter that routes
// nothing. Every other example file matching alsoFits (a glob under
// examples/<name>, e.g. "*.json"), which the file's comments say can be
// embedded instead, must route to defined clusters too.
func CheckExample(t *testing.T, repoRoot, name string, parse func([]byte) (Routing, error), accept func(t *testing.T, cfg string), alsoFits string) {
	t.Helper()
	b, ws := Example(t, repoRoot, name)
	check := func(what string, cfg []byte) {
		if parse == nil {
			return
		}
		r, err := parse(cfg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		CheckRouting(t, b, r.Header, r.Clusters)
	}
	for _, w := range ws {
		check("embedded configuration", []byte(w.Configuration))
		t.Run("accepted", func(t *testing.T) { accept(t, w.Configuration) })
	}
	if alsoFits == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", name, alsoFits))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, data)
	}
}

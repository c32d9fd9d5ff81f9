package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nicrt/nicrt/runtime"
)

// Config is one sidecar: what it listens on, where it sends requests, which
// filters run, and its limits. docs/sidecar.md documents every field; the
// file is YAML (JSON is valid YAML).
type Config struct {
	// NodeID names this sidecar (property node.id, the admin config dump).
	NodeID string `yaml:"node_id" json:"node_id,omitempty"`
	// NodeMetadata answers node.metadata.<key> properties.
	NodeMetadata map[string]string `yaml:"node_metadata" json:"node_metadata,omitempty"`
	// Admin is the admin API's address and token.
	Admin AdminConfig `yaml:"admin" json:"admin,omitempty"`
	// Listeners accept downstream connections; each has its filter chain.
	Listeners []ListenerConfig `yaml:"listeners" json:"listeners,omitempty"`
	// Clusters are named groups of upstream endpoints.
	Clusters []ClusterConfig `yaml:"clusters" json:"clusters,omitempty"`
	// Timeouts bound every wait.
	Timeouts Timeouts `yaml:"timeouts" json:"timeouts,omitempty"`
	// Limits bound what a peer may send.
	Limits Limits `yaml:"limits" json:"limits,omitempty"`
	// Wasm configures the filter runtime shared by every listener.
	Wasm WasmConfig `yaml:"wasm" json:"wasm,omitempty"`
	// AccessLog is a file to log one line per request to ("-" is standard
	// output); empty (the default) disables it.
	AccessLog string `yaml:"access_log" json:"access_log,omitempty"`
	// ServerName overwrites responses' server field, as Envoy's
	// server_name does; "-" passes the upstream's through. Default "nicrt".
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`

	// dir is where relative paths in the file are resolved.
	dir string
}

// AdminConfig places the admin API.
type AdminConfig struct {
	// Address to listen on; default 127.0.0.1:15000. A non-loopback
	// address needs a token.
	Address string `yaml:"address" json:"address,omitempty"`
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token string `yaml:"token" json:"token,omitempty"`
	// TokenFile reads the token from a file (trailing newline dropped).
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	// Disabled turns the admin API off.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
}

// ListenerConfig is one downstream listener with its routes and filters,
// like an Envoy listener with an http_connection_manager.
type ListenerConfig struct {
	// Name identifies the listener in stats, logs and the admin API (its
	// filter chain has the same name). Required, unique.
	Name string `yaml:"name" json:"name,omitempty"`
	// Address is host:port to listen on. Required.
	Address string `yaml:"address" json:"address,omitempty"`
	// Direction is "inbound" (in front of the local service) or "outbound"
	// (the local app's calls to other services). Default inbound.
	Direction string `yaml:"direction" json:"direction,omitempty"`
	// Routes choose a cluster by the request's host (":authority" without
	// port), first match wins.
	Routes []RouteConfig `yaml:"routes" json:"routes,omitempty"`
	// Cluster receives requests no route and no routing header chose.
	Cluster string `yaml:"cluster" json:"cluster,omitempty"`
	// RouteHeader is the request field through which filters name a
	// cluster (Envoy's cluster_header); default "x-nicrt-cluster".
	RouteHeader string `yaml:"route_header" json:"route_header,omitempty"`
	// TrustRouteHeader lets downstream clients choose the cluster with
	// the routing header. By default the sidecar removes it from arriving
	// requests, so only this listener's filters decide.
	TrustRouteHeader bool `yaml:"trust_route_header" json:"trust_route_header,omitempty"`
	// Filters is the listener's filter chain, in request order.
	Filters []FilterConfig `yaml:"filters" json:"filters,omitempty"`
}

// RouteConfig sends requests for some hosts to a cluster.
type RouteConfig struct {
	// Hosts are exact host names, "*.suffix" wildcards, or "*" (any).
	// Matching ignores case and the port.
	Hosts []string `yaml:"hosts" json:"hosts,omitempty"`
	// Cluster to send matching requests to.
	Cluster string `yaml:"cluster" json:"cluster,omitempty"`
}

// ClusterConfig names a group of upstream endpoints.
type ClusterConfig struct {
	// Name is what routes and routing headers refer to. Required, unique.
	Name string `yaml:"name" json:"name,omitempty"`
	// Endpoints are host:port addresses, used round-robin. Required.
	Endpoints []string `yaml:"endpoints" json:"endpoints,omitempty"`
	// MaxIdleConns bounds idle keep-alive connections kept per endpoint;
	// default 64.
	MaxIdleConns int `yaml:"max_idle_conns" json:"max_idle_conns,omitempty"`
}

// FilterConfig is one Proxy-Wasm filter, as Envoy's envoy.filters.http.wasm
// configures it.
type FilterConfig struct {
	// Name identifies the filter in its chain. Required, unique per chain.
	Name string `yaml:"name" json:"name,omitempty"`
	// Wasm is the module's path. Required.
	Wasm string `yaml:"wasm" json:"wasm,omitempty"`
	// RootID and VMID as in Envoy (property plugin_root_id; shared-data scope).
	RootID string `yaml:"root_id" json:"root_id,omitempty"`
	VMID   string `yaml:"vm_id" json:"vm_id,omitempty"`
	// Configuration is passed to proxy_on_configure: a string as is, a
	// mapping or list as JSON.
	Configuration Configuration `yaml:"configuration" json:"configuration,omitempty"`
	// ConfigurationFile reads the configuration from a file instead.
	ConfigurationFile string `yaml:"configuration_file" json:"configuration_file,omitempty"`
	// FailOpen lets requests pass unfiltered when the filter fails,
	// instead of answering 500.
	FailOpen bool `yaml:"fail_open" json:"fail_open,omitempty"`
	// PoolSize is the number of VMs; default GOMAXPROCS.
	PoolSize int `yaml:"pool_size" json:"pool_size,omitempty"`
}

// Configuration is a filter configuration given as a string or as YAML
// structure (converted to JSON).
type Configuration struct {
	Data []byte
	Set  bool
}

// UnmarshalYAML accepts a scalar string or any structure.
func (c *Configuration) UnmarshalYAML(n *yaml.Node) error {
	c.Set = true
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "") {
		c.Data = []byte(n.Value)
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Errorf("line %d: configuration cannot be expressed as JSON: %v", n.Line, err)
	}
	c.Data = b
	return nil
}

// MarshalJSON writes the configuration as a JSON string.
func (c Configuration) MarshalJSON() ([]byte, error) { return json.Marshal(string(c.Data)) }

// MarshalYAML writes the configuration back as a string.
func (c Configuration) MarshalYAML() (any, error) { return string(c.Data), nil }

// jsonable converts YAML's map[any]any (keys that are not strings) so
// encoding/json accepts them.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

// Timeouts bound each wait; zero fields take the defaults below.
type Timeouts struct {
	// RequestHeaders: a downstream client must send a complete request
	// head within this time of its first byte (slow clients get 408).
	// Default 10s.
	RequestHeaders Duration `yaml:"request_headers" json:"request_headers,omitempty"`
	// Idle closes a downstream keep-alive connection without requests for
	// this long. Default 5m.
	Idle Duration `yaml:"idle" json:"idle,omitempty"`
	// StreamIdle bounds a wait for body bytes in either direction and for
	// a slow reader. Default 5m (Envoy's stream_idle_timeout).
	StreamIdle Duration `yaml:"stream_idle" json:"stream_idle,omitempty"`
	// Connect bounds opening an upstream connection. Default 5s.
	Connect Duration `yaml:"connect" json:"connect,omitempty"`
	// Request bounds the whole upstream exchange, from sending the request
	// until the response is complete, and how long a filter may pause a
	// request (Envoy's route timeout). Default 15s.
	Request Duration `yaml:"request" json:"request,omitempty"`
	// UpstreamIdle closes pooled upstream connections unused for this
	// long. Default 60s.
	UpstreamIdle Duration `yaml:"upstream_idle" json:"upstream_idle,omitempty"`
	// Drain is how long shutdown waits for requests in flight. Default 5s.
	Drain Duration `yaml:"drain" json:"drain,omitempty"`
}

// Limits bound what peers may send.
type Limits struct {
	// MaxRequestHeadersKB bounds a request head. Default 60 (Envoy's).
	MaxRequestHeadersKB int `yaml:"max_request_headers_kb" json:"max_request_headers_kb,omitempty"`
	// MaxHeaders bounds the number of header fields. Default 100 (Envoy's).
	MaxHeaders int `yaml:"max_headers" json:"max_headers,omitempty"`
}

// WasmConfig configures the filter runtime.
type WasmConfig struct {
	// CacheDir keeps compiled modules on disk across restarts.
	CacheDir string `yaml:"cache_dir" json:"cache_dir,omitempty"`
	// CallDeadline bounds each filter callback (default 500ms); a filter
	// past it fails (closed or open).
	CallDeadline Duration `yaml:"call_deadline" json:"call_deadline,omitempty"`
	// MemoryLimitMB caps each VM's memory. Default 128.
	MemoryLimitMB int `yaml:"memory_limit_mb" json:"memory_limit_mb,omitempty"`
	// LogLevel is the lowest guest log level shown: trace, debug, info,
	// warn, error, critical. Default info.
	LogLevel string `yaml:"log_level" json:"log_level,omitempty"`
}

// Duration is a time.Duration written as "1.5s", "250ms", "5m".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 1s or 250ms", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 1s or 250ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration in Go syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults.
const (
	DefaultAdminAddress   = "127.0.0.1:15000"
	DefaultServerName     = "nicrt"
	DefaultMaxIdleConns   = 64
	DefaultMaxHeadersKB   = 60
	DefaultMaxHeaders     = 100
	DefaultMemoryLimitMB  = 128
	defaultRequestHeaders = 10 * time.Second
	defaultIdle           = 5 * time.Minute
	defaultStreamIdle     = 5 * time.Minute
	defaultConnect        = 5 * time.Second
	defaultRequest        = 15 * time.Second
	defaultUpstreamIdle   = 60 * time.Second
	defaultDrain          = 5 * time.Second
)

// LoadConfig reads and validates a config file. Relative paths in it
// (wasm, configuration_file, token_file, access_log, cache_dir) are
// resolved against the file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates a config; dir resolves relative paths.
// Errors name the offending field by its path (listeners[0].routes[1].cluster)
// and, for syntax and unknown fields, the line.
func ParseConfig(data []byte, dir string) (*Config, error) {
	return parseConfig(data, dir, true)
}

// parseConfig is ParseConfig; checkFiles false skips reading the files the
// configuration names (tests of example files whose modules are built
// artifacts).
func parseConfig(data []byte, dir string, checkFiles bool) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("empty configuration")
		}
		return nil, fmt.Errorf("not valid YAML: %v", err)
	}
	c := &Config{dir: dir}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("empty configuration")
	}
	if err := checkKnown(root.Content[0], reflect.TypeOf(*c), ""); err != nil {
		return nil, err
	}
	if err := root.Content[0].Decode(c); err != nil {
		return nil, fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.dir = dir
	if err := c.validate(checkFiles); err != nil {
		return nil, err
	}
	return c, nil
}

// checkKnown walks the document against the Go type and reports the first
// key that names no field, with its path and line and the fields allowed.
func checkKnown(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(Configuration{}) || t == reflect.TypeOf(Duration(0)) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("line %d: %s: want a mapping", n.Line, orRoot(path))
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f
			names = append(names, tag)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f, ok := fields[k.Value]
			if !ok {
				sort.Strings(names)
				return fmt.Errorf("line %d: %s: unknown field %q%s (known: %s)", k.Line, orRoot(path), k.Value, suggest(k.Value, names), strings.Join(names, ", "))
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: %s: field %q given twice", k.Line, orRoot(path), k.Value)
			}
			seen[k.Value] = true
			if err := checkKnown(n.Content[i+1], f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("line %d: %s: want a list", n.Line, orRoot(path))
		}
		for i, e := range n.Content {
			if err := checkKnown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orRoot(p string) string {
	if p == "" {
		return "top level"
	}
	return p
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// suggest names a known field one edit away, for typos.
func suggest(k string, names []string) string {
	for _, n := range names {
		if editDistance(k, n) <= 2 {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// validate fills defaults and checks references; errors name the field.
func (c *Config) validate(checkFiles bool) error {
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.Admin.Address == "" {
		c.Admin.Address = DefaultAdminAddress
	}
	if !c.Admin.Disabled {
		if _, _, err := net.SplitHostPort(c.Admin.Address); err != nil {
			return fmt.Errorf("admin.address: %q is not host:port", c.Admin.Address)
		}
	}
	if c.Admin.Token != "" && c.Admin.TokenFile != "" {
		return fmt.Errorf("admin: give token or token_file, not both")
	}
	if c.Admin.TokenFile != "" && checkFiles {
		b, err := os.ReadFile(c.path(c.Admin.TokenFile))
		if err != nil {
			return fmt.Errorf("admin.token_file: %v", err)
		}
		c.Admin.Token = strings.TrimRight(string(b), "\r\n")
		if c.Admin.Token == "" {
			return fmt.Errorf("admin.token_file: %s is empty", c.Admin.TokenFile)
		}
	}
	t := &c.Timeouts
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{
		{&t.RequestHeaders, defaultRequestHeaders}, {&t.Idle, defaultIdle}, {&t.StreamIdle, defaultStreamIdle},
		{&t.Connect, defaultConnect}, {&t.Request, defaultRequest}, {&t.UpstreamIdle, defaultUpstreamIdle}, {&t.Drain, defaultDrain},
	} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	if c.Limits.MaxRequestHeadersKB == 0 {
		c.Limits.MaxRequestHeadersKB = DefaultMaxHeadersKB
	}
	if c.Limits.MaxRequestHeadersKB < 1 || c.Limits.MaxRequestHeadersKB > 8192 {
		return fmt.Errorf("limits.max_request_headers_kb: %d is outside 1..8192", c.Limits.MaxRequestHeadersKB)
	}
	if c.Limits.MaxHeaders == 0 {
		c.Limits.MaxHeaders = DefaultMaxHeaders
	}
	if c.Limits.MaxHeaders < 1 || c.Limits.MaxHeaders > 10000 {
		return fmt.Errorf("limits.max_headers: %d is outside 1..10000", c.Limits.MaxHeaders)
	}
	if c.Wasm.MemoryLimitMB == 0 {
		c.Wasm.MemoryLimitMB = DefaultMemoryLimitMB
	}
	if c.Wasm.MemoryLimitMB < 1 || c.Wasm.MemoryLimitMB > 4096 {
		return fmt.Errorf("wasm.memory_limit_mb: %d is outside 1..4096", c.Wasm.MemoryLimitMB)
	}
	if c.Wasm.LogLevel != "" {
		if _, err := runtime.ParseLogLevel(c.Wasm.LogLevel); err != nil {
			return fmt.Errorf("wasm.log_level: %v", err)
		}
	}

	clusters := map[string]bool{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		p := fmt.Sprintf("clusters[%d]", i)
		if err := checkName(cl.Name); err != nil {
			return fmt.Errorf("%s.name: %v", p, err)
		}
		if clusters[cl.Name] {
			return fmt.Errorf("%s.name: cluster %q defined twice", p, cl.Name)
		}
		clusters[cl.Name] = true
		if len(cl.Endpoints) == 0 {
			return fmt.Errorf("%s.endpoints: cluster %q has no endpoints", p, cl.Name)
		}
		for j, e := range cl.Endpoints {
			if err := checkHostPort(e); err != nil {
				return fmt.Errorf("%s.endpoints[%d]: %v", p, j, err)
			}
		}
		if cl.MaxIdleConns == 0 {
			cl.MaxIdleConns = DefaultMaxIdleConns
		}
		if cl.MaxIdleConns < 0 {
			return fmt.Errorf("%s.max_idle_conns: %d is negative", p, cl.MaxIdleConns)
		}
	}
	if len(c.Listeners) == 0 {
		return fmt.Errorf("listeners: at least one listener is needed")
	}
	listeners := map[string]bool{}
	addrs := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		p := fmt.Sprintf("listeners[%d]", i)
		if err := checkName(l.Name); err != nil {
			return fmt.Errorf("%s.name: %v", p, err)
		}
		if listeners[l.Name] {
			return fmt.Errorf("%s.name: listener %q defined twice", p, l.Name)
		}
		listeners[l.Name] = true
		if err := checkHostPort(l.Address); err != nil {
			return fmt.Errorf("%s.address: %v", p, err)
		}
		if addrs[l.Address] && !strings.HasSuffix(l.Address, ":0") {
			return fmt.Errorf("%s.address: %s is used by another listener", p, l.Address)
		}
		addrs[l.Address] = true
		switch l.Direction {
		case "":
			l.Direction = "inbound"
		case "inbound", "outbound":
		default:
			return fmt.Errorf("%s.direction: %q is neither inbound nor outbound", p, l.Direction)
		}
		if l.Cluster != "" && !clusters[l.Cluster] {
			return fmt.Errorf("%s.cluster: no cluster named %q", p, l.Cluster)
		}
		if l.RouteHeader == "" {
			l.RouteHeader = runtime.DefaultRouteHeader
		}
		l.RouteHeader = strings.ToLower(l.RouteHeader)
		if !isToken(l.RouteHeader) {
			return fmt.Errorf("%s.route_header: %q is not a valid header name", p, l.RouteHeader)
		}
		for j, r := range l.Routes {
			rp := fmt.Sprintf("%s.routes[%d]", p, j)
			if len(r.Hosts) == 0 {
				return fmt.Errorf("%s.hosts: a route needs at least one host", rp)
			}
			for k, h := range r.Hosts {
				if err := checkHostPattern(h); err != nil {
					return fmt.Errorf("%s.hosts[%d]: %v", rp, k, err)
				}
			}
			if !clusters[r.Cluster] {
				return fmt.Errorf("%s.cluster: no cluster named %q", rp, r.Cluster)
			}
		}
		names := map[string]bool{}
		for j := range l.Filters {
			f := &l.Filters[j]
			fp := fmt.Sprintf("%s.filters[%d]", p, j)
			if err := checkName(f.Name); err != nil {
				return fmt.Errorf("%s.name: %v", fp, err)
			}
			if names[f.Name] {
				return fmt.Errorf("%s.name: filter %q appears twice in listener %s", fp, f.Name, l.Name)
			}
			names[f.Name] = true
			if f.Wasm == "" {
				return fmt.Errorf("%s.wasm: the module path is required", fp)
			}
			if _, err := os.Stat(c.path(f.Wasm)); err != nil && checkFiles {
				return fmt.Errorf("%s.wasm: %v", fp, err)
			}
			if f.ConfigurationFile != "" {
				if f.Configuration.Set {
					return fmt.Errorf("%s: give configuration or configuration_file, not both", fp)
				}
				if !checkFiles {
					continue
				}
				b, err := os.ReadFile(c.path(f.ConfigurationFile))
				if err != nil {
					return fmt.Errorf("%s.configuration_file: %v", fp, err)
				}
				f.Configuration = Configuration{Data: b, Set: true}
			}
			if f.PoolSize < 0 || f.PoolSize > 256 {
				return fmt.Errorf("%s.pool_size: %d is outside 0..256", fp, f.PoolSize)
			}
		}
	}
	return nil
}

// path resolves a path from the config file.
func (c *Config) path(p string) string {
	if p == "" || p == "-" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("a name is required")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q: only letters, digits, '-', '_' and '.' are allowed", n)
		}
	}
	return nil
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("%q has no host (write 0.0.0.0:%s to listen on every interface)", a, port)
	}
	return nil
}

func checkHostPattern(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if h == "*" {
		return nil
	}
	rest := strings.TrimPrefix(h, "*.")
	if strings.ContainsAny(rest, "*:/ ") {
		return fmt.Errorf("%q: a host is a name, \"*.suffix\" or \"*\" (no port, no other wildcards)", h)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Redacted returns a copy fit to show (config dumps): the admin token is
// replaced by "<redacted>".
func (c *Config) Redacted() *Config {
	r := *c
	if r.Admin.Token != "" {
		r.Admin.Token = "<redacted>"
	}
	return &r
}

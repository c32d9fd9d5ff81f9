package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Filter is one Proxy-Wasm filter of a plan's chain: which module
// (<WasmDir>/<Kind>.wasm) and its plugin configuration.
type Filter struct {
	// Kind names the module: "lb", "route", "fault" or "passthrough".
	Kind string `json:"kind"`
	// Source is where the configuration came from (a file, or "default").
	Source string `json:"source"`
	// Config is the plugin configuration (JSON) given to the filter.
	Config []byte `json:"-"`
}

// FilterKinds are the filters nicrt builds (filters/<kind>/).
var FilterKinds = []string{"lb", "route", "fault", "passthrough"}

// defaultLB balances reviews v1, v2 and v3 in turn: what Istio's sidecars
// do for Bookinfo without a VirtualService, expressed with the lb filter.
const defaultLB = `{
  "service": "reviews",
  "policy": "round_robin",
  "clusters": ["reviews-v1", "reviews-v2", "reviews-v3"]
}
`

// DefaultFilters is the chain sidecar-both and nic-offload run when none is
// chosen: lb, round robin over reviews v1/v2/v3.
func DefaultFilters() []Filter {
	return []Filter{{Kind: "lb", Source: "default (lb round_robin over reviews-v1, -v2, -v3)", Config: []byte(defaultLB)}}
}

// ParseFilter reads a --filter-config argument, [KIND:]FILE. Without KIND
// the kind is the name of the file's directory, as in examples/route/*.json;
// the file must exist and hold the configuration (its content is checked by
// the filter itself when it starts).
func ParseFilter(arg string) (Filter, error) {
	kind, path, explicit := strings.Cut(arg, ":")
	if !explicit || !isKind(kind) {
		kind, path = filepath.Base(filepath.Dir(arg)), arg
		if !isKind(kind) {
			return Filter{}, fmt.Errorf("filter config %q: cannot tell which filter it is for; write KIND:FILE with KIND one of %s, or keep it in a directory named after the filter (examples/route/...)",
				arg, strings.Join(FilterKinds, ", "))
		}
	}
	if path == "" {
		return Filter{}, fmt.Errorf("filter config %q: no file", arg)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Filter{}, fmt.Errorf("filter config %q: %w", arg, err)
	}
	return Filter{Kind: kind, Source: path, Config: data}, nil
}

func isKind(s string) bool {
	for _, k := range FilterKinds {
		if s == k {
			return true
		}
	}
	return false
}

// wasmPath is where a filter's module is, checked so that a missing build
// is reported before any process starts.
func (b *builder) wasmPath(kind string) (string, error) {
	dir := b.opts.WasmDir
	if dir == "" {
		dir = "filters"
	}
	p := filepath.Join(dir, kind+".wasm")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("filter %s: %w (run `make filters`, or point --wasm-dir at the built filters)", kind, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return abs, nil
}

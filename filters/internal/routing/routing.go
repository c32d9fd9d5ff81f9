// Package routing holds the contract between a routing filter and the data
// plane that forwards the request: the filter writes a cluster name into a
// request header, and the data plane sends the request to the cluster that
// header names — Envoy's route action "cluster_header". nicrt's sidecar and
// NIC honour the same header, so one filter binary routes in all three.
package routing

import (
	"fmt"
	"strings"
)

// DefaultClusterHeader is the request header a routing filter sets when its
// configuration does not name another one.
const DefaultClusterHeader = "x-nicrt-cluster"

// ClusterHeader validates a configured header name and returns it in the
// lowercase form HTTP/2 and the proxy-wasm header maps use. Pseudo-headers
// and names with characters outside RFC 9110's token set are refused.
func ClusterHeader(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty header name")
	}
	if name[0] == ':' {
		return "", fmt.Errorf("%q is a pseudo-header; a data plane cannot route on it", name)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "", fmt.Errorf("header name %q: character %q is not allowed", name, name[i])
		}
	}
	return strings.ToLower(name), nil
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ClusterName validates a cluster name a filter may write into the routing
// header: 1 to 255 visible ASCII characters, so it is a valid header value
// and survives every data plane's configuration language unquoted.
func ClusterName(name string) error {
	if name == "" {
		return fmt.Errorf("empty cluster name")
	}
	if len(name) > 255 {
		return fmt.Errorf("cluster name is %d bytes, more than 255", len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("cluster name %q: byte %#x is not a visible ASCII character", name, c)
		}
	}
	return nil
}

// Template builds cluster names from an Istio destination. It holds text
// with the placeholders {host}, {subset} and {port}.
type Template string

// Default templates: Istio's "reviews" subset "v2" becomes cluster
// "reviews-v2"; a destination without subset becomes "reviews".
const (
	DefaultTemplate         Template = "{host}-{subset}"
	DefaultTemplateNoSubset Template = "{host}"
)

// Check refuses unknown or unclosed placeholders.
func (t Template) Check() error {
	s := string(t)
	if s == "" {
		return fmt.Errorf("empty template")
	}
	for {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			return nil
		}
		if s[i] == '}' {
			return fmt.Errorf("template %q: '}' without '{'", string(t))
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return fmt.Errorf("template %q: '{' without '}'", string(t))
		}
		switch s[i : i+j+1] {
		case "{host}", "{subset}", "{port}":
		default:
			return fmt.Errorf("template %q: unknown placeholder %s (known: {host}, {subset}, {port})", string(t), s[i:i+j+1])
		}
		s = s[i+j+1:]
	}
}

// Expand fills the placeholders. port is "" when the destination has none.
func (t Template) Expand(host, subset, port string) string {
	return strings.NewReplacer("{host}", host, "{subset}", subset, "{port}", port).Replace(string(t))
}

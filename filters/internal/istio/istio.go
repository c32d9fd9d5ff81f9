// Package istio reads Istio VirtualService HTTP rules and matches requests
// against them, so that nicrt's route and fault filters behave as an Istio
// sidecar given the same rules would.
//
// The configuration is JSON with Istio's own field names, in one of two forms:
//
//   - the VirtualService's "http" list alone: the rules apply to every request
//     the filter sees;
//   - an object {"hosts": [...], "http": [...]} (the VirtualService's spec),
//     plus nicrt's own optional fields: the rules apply only to requests whose
//     :authority matches one of the hosts (see package authority); others are
//     left untouched.
//
// The same document feeds both filters: route uses each rule's "route" and
// fault uses its "fault", and both pick the rule the same way — the first
// rule whose match accepts the request wins, as in Istio. Fields of Istio's
// API that nicrt does not implement (retries, rewrite, mirror...) are
// refused with an error naming the field, never ignored.
package istio

import (
	"strconv"

	"github.com/nicrt/nicrt/filters/internal/authority"
	"github.com/nicrt/nicrt/filters/internal/config"
	"github.com/nicrt/nicrt/filters/internal/routing"
)

// Defaults of nicrt's own fields.
const (
	// DefaultFaultTickMs is the fault filter's timer period: a delay ends at
	// the first tick at or after its deadline, so it lasts up to one period
	// longer than configured.
	DefaultFaultTickMs = 10
	// MaxFaultTickMs bounds fault_tick_ms.
	MaxFaultTickMs = 1000
)

// Config is a parsed VirtualService for the route and fault filters.
type Config struct {
	// Hosts restricts the rules to requests for these hosts; nil means every
	// request (the configuration was a bare http list).
	Hosts authority.Set
	// Rules are the http rules in order.
	Rules []Rule
	// ClusterHeader is the request header route writes the cluster name into.
	ClusterHeader string
	// RandomSeed seeds weight and percentage draws; 0 means unseeded.
	RandomSeed uint64
	// FaultTickMs is the fault filter's timer period in milliseconds.
	FaultTickMs uint32

	slots     headerSlots // the headers the rules read, by cache slot
	authority header      // :authority, for Hosts
	hosts     authority.Remembering
}

// Parse reads a route/fault configuration. The error is a *config.Error
// naming the offending field.
func Parse(data []byte) (*Config, error) {
	doc := config.Parse(data)
	c := &Config{
		ClusterHeader: routing.DefaultClusterHeader,
		FaultTickMs:   DefaultFaultTickMs,
	}
	t := templates{withSubset: routing.DefaultTemplate, noSubset: routing.DefaultTemplateNoSubset}
	root := doc.Root()
	var http config.Value
	switch root.Kind() {
	case "array":
		http = root.At("http")
	case "object":
		http = c.parseSpec(root.Object(), &t)
	case "null":
		doc.Fail("", "the configuration is empty; give a VirtualService http list or an object with hosts and http")
	default:
		doc.Fail("", "must be a JSON array (the VirtualService http list) or object (with hosts and http), not %s", root.Kind())
	}
	c.authority = c.slots.ref(":authority")
	if doc.Err() == nil {
		c.parseRules(http, t)
	}
	if err := doc.Err(); err != nil {
		return nil, err
	}
	c.hosts = authority.Remember(c.Hosts)
	return c, nil
}

// parseSpec reads the object form and returns its http list.
func (c *Config) parseSpec(o *config.Object, t *templates) config.Value {
	for _, k := range []string{"apiVersion", "kind", "metadata", "spec"} {
		o.Unsupported(k, "give the VirtualService's spec (hosts and http), not the whole Kubernetes object")
	}
	if hv, ok := o.Required("hosts", "required in the object form (use a bare http list to apply the rules to every host)"); ok {
		elems := hv.Array()
		if len(elems) == 0 {
			hv.Fail("at least one host is required")
		}
		for _, e := range elems {
			p, err := authority.Compile(e.String())
			if err != nil {
				e.Fail("%v", err)
			}
			c.Hosts = append(c.Hosts, p)
		}
	}
	http, _ := o.Required("http", "")
	if v, ok := o.Get("cluster_header"); ok {
		h, err := routing.ClusterHeader(v.String())
		if err != nil {
			v.Fail("%v", err)
		}
		c.ClusterHeader = h
	}
	for _, f := range []struct {
		name string
		dst  *routing.Template
	}{{"cluster_template", &t.withSubset}, {"cluster_template_no_subset", &t.noSubset}} {
		if v, ok := o.Get(f.name); ok {
			*f.dst = routing.Template(v.String())
			if err := f.dst.Check(); err != nil {
				v.Fail("%v", err)
			}
		}
	}
	c.RandomSeed = uint64(o.Int("random_seed", 0, 0, 1<<63-1))
	c.FaultTickMs = uint32(o.Int("fault_tick_ms", DefaultFaultTickMs, 1, MaxFaultTickMs))
	o.Unsupported("gateways", "there are no Istio gateways in nicrt")
	o.Unsupported("exportTo", "visibility is decided by where the filter runs")
	o.Unsupported("tcp", "only HTTP rules are implemented")
	o.Unsupported("tls", "only HTTP rules are implemented")
	o.Done()
	return http
}

func (c *Config) parseRules(http config.Value, t templates) {
	elems := http.Array()
	if len(elems) == 0 && http.Kind() == "array" {
		http.Fail("at least one rule is required")
	}
	for i, e := range elems {
		o := e.Object()
		r := Rule{Index: i, Label: strconv.Itoa(i)}
		if name := o.String("name", ""); name != "" {
			r.Label = name
		}
		if mv, ok := o.Get("match"); ok {
			for _, m := range mv.Array() {
				r.Matches = append(r.Matches, parseMatch(m, &c.slots))
			}
		}
		if rv, ok := o.Required("route", "required (nicrt implements route rules; redirect, directResponse and delegate are not)"); ok {
			r.Route, r.weights = parseRoute(rv, t)
		}
		if fv, ok := o.Get("fault"); ok {
			r.Fault = parseFault(fv)
		}
		for _, k := range []string{"redirect", "directResponse", "delegate", "rewrite", "timeout", "retries",
			"mirror", "mirrors", "mirrorPercent", "mirrorPercentage", "corsPolicy", "headers"} {
			o.Unsupported(k, "nicrt's route and fault filters implement match, route and fault")
		}
		o.Done()
		c.Rules = append(c.Rules, r)
	}
}

// HostsLabel names the configuration's hosts in metric labels: the first
// host pattern, or "*" for a bare http list.
func (c *Config) HostsLabel() string {
	if len(c.Hosts) == 0 {
		return "*"
	}
	return c.Hosts[0].String()
}

// Select returns the first rule that accepts the request, or nil when the
// request is not for the configured hosts or no rule matches it. It
// remembers the last :authority's verdict, so it is not safe for concurrent
// use (a proxy-wasm VM runs one callback at a time); the rest of Config is
// read-only after Parse.
//
// A rule matches when it has no match blocks or any of its blocks accepts
// the request. (One function, not one per level: it runs on every request,
// and in a wasip1 module every call layer costs a hundred wasm instructions
// or more.)
func (c *Config) Select(r *Request) *Rule {
	if c.Hosts != nil {
		if a, ok := r.header(c.authority); !ok || !c.hosts.Match(a) {
			return nil
		}
	}
	for i := range c.Rules {
		rule := &c.Rules[i]
		if len(rule.Matches) == 0 {
			return rule
		}
		for j := range rule.Matches {
			if rule.Matches[j].Matches(r) {
				return rule
			}
		}
	}
	return nil
}

// HasDelay reports whether any rule injects delays (the fault filter needs
// a timer only then).
func (c *Config) HasDelay() bool {
	for i := range c.Rules {
		if f := c.Rules[i].Fault; f != nil && f.HasDelay {
			return true
		}
	}
	return false
}

// Clusters returns every cluster name the rules can route to, once each, in
// rule order. Configuration checks (e.g. of an Envoy YAML) use it.
func (c *Config) Clusters() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range c.Rules {
		for _, d := range r.Route {
			if !seen[d.Cluster] {
				seen[d.Cluster] = true
				out = append(out, d.Cluster)
			}
		}
	}
	return out
}

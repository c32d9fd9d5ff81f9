// Package promname builds proxy-wasm metric names that carry Prometheus
// labels.
//
// Proxy-Wasm metrics have a flat name. nicrt's host exposes a name of the
// form `name{label="value",...}` as a Prometheus metric with those labels,
// so filters embed their labels in the name once, at configure time, and the
// per-request path only increments a metric ID.
package promname

import "strings"

// Name returns `metric{k1="v1",k2="v2"}` from alternating label keys and
// values, escaping values as the Prometheus text format requires. With no
// labels it returns metric unchanged. An odd trailing key is ignored.
func Name(metric string, kv ...string) string {
	if len(kv) < 2 {
		return metric
	}
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		escape(&b, kv[i+1])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escape(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

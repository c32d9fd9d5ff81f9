package runtime

import (
	"strconv"
	"strings"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// Properties follow Envoy's attribute names. Encodings, as Envoy's: strings
// as raw bytes; integers (codes, ports, sizes, ids) as 8-byte little-endian;
// timestamps as int64 nanoseconds since the Unix epoch, little-endian; maps
// (request.headers, response.headers) as serialized header maps. A path one
// level below a header map names one header: ["request","headers","x-id"].
//
// nicrt adds "nicrt.position" ("sidecar" or "nic"), so one filter can tell
// where it runs.
//
// Filters may set properties under any first segment not reserved below;
// those live on the stream (or, set from a root context, on the VM).

var reservedProperty = map[string]bool{
	"request": true, "response": true, "source": true, "destination": true,
	"upstream": true, "connection": true, "node": true, "nicrt": true,
	"plugin_name": true, "plugin_root_id": true, "plugin_vm_id": true,
	"xds": true, "metadata": true, "filter_state": true,
}

// property resolves a path. It returns either a string or bytes value (the
// other empty) and whether the value is a header map (for sub-keys).
type propValue struct {
	s      string
	b      []byte
	fields *Fields
	found  bool
}

func (v *vm) property(path []byte) propValue {
	var seg [4][]byte
	n := abi.SplitPath(path, func(i int, s []byte) {
		if i < len(seg) {
			seg[i] = s
		}
	})
	if n == 0 || n > len(seg) {
		return propValue{}
	}
	h := v.p.host
	str := func(s string) propValue { return propValue{s: s, found: true} }
	i64 := func(x int64) propValue { return propValue{b: le64(uint64(x)), found: true} }
	var s *Stream
	if v.cur != nil {
		s = v.cur.s
	}
	switch string(seg[0]) {
	case "plugin_name":
		if n == 1 {
			return str(v.p.cfg.Name)
		}
	case "plugin_root_id":
		if n == 1 {
			return str(v.p.cfg.RootID)
		}
	case "plugin_vm_id":
		if n == 1 {
			return str(v.p.cfg.VMID)
		}
	case "nicrt":
		if n == 2 && string(seg[1]) == "position" {
			return str(h.cfg.Position)
		}
	case "node":
		switch {
		case n == 2 && string(seg[1]) == "id":
			return str(h.cfg.NodeID)
		case n == 3 && string(seg[1]) == "metadata":
			if val, ok := h.cfg.NodeMetadata[string(seg[2])]; ok {
				return str(val)
			}
		}
	case "request":
		if s == nil || s.reqHeaders == nil || n < 2 {
			break
		}
		hd := *s.reqHeaders
		switch string(seg[1]) {
		case "path":
			return str(hd.Value(":path"))
		case "url_path":
			p := hd.Value(":path")
			if i := strings.IndexByte(p, '?'); i >= 0 {
				p = p[:i]
			}
			return str(p)
		case "host":
			return str(hd.Value(":authority"))
		case "scheme":
			return str(hd.Value(":scheme"))
		case "method":
			return str(hd.Value(":method"))
		case "id":
			return str(hd.Value("x-request-id"))
		case "protocol":
			return str(s.info.Protocol)
		case "time":
			return i64(s.start.UnixNano())
		case "useragent":
			return str(hd.Value("user-agent"))
		case "referer":
			return str(hd.Value("referer"))
		case "headers":
			return headerProp(s.reqHeaders, seg[2], n)
		}
	case "response":
		if s == nil || n < 2 {
			break
		}
		switch string(seg[1]) {
		case "code":
			if lr := s.LocalResponse(); lr != nil {
				return i64(int64(lr.Status))
			}
			if s.respHeaders != nil {
				if c, err := strconv.Atoi(s.respHeaders.Value(":status")); err == nil {
					return i64(int64(c))
				}
			}
		case "code_details":
			if lr := s.LocalResponse(); lr != nil {
				return str(lr.Details)
			}
			if s.respHeaders != nil {
				return str("via_upstream")
			}
		case "size":
			if s.respHeaders != nil {
				return i64(s.respBodySize.Load())
			}
		case "headers":
			if s.respHeaders != nil {
				return headerProp(s.respHeaders, seg[2], n)
			}
		}
	case "source", "destination":
		if s == nil || n != 2 {
			break
		}
		ap := s.info.Source
		if seg[0][0] == 'd' {
			ap = s.info.Destination
		}
		if !ap.IsValid() {
			break
		}
		switch string(seg[1]) {
		case "address":
			return str(ap.String())
		case "port":
			return i64(int64(ap.Port()))
		}
	case "upstream":
		if s != nil && n == 2 && string(seg[1]) == "address" {
			s.mu.Lock()
			up := s.upstream
			s.mu.Unlock()
			if up != "" {
				return str(up)
			}
		}
	case "connection":
		if s != nil && n == 2 && string(seg[1]) == "id" {
			return i64(int64(s.info.ConnectionID))
		}
	default:
		// filter-owned
		key := strings.TrimSuffix(string(path), "\x00")
		if s != nil {
			s.mu.Lock()
			b, ok := s.props[key]
			s.mu.Unlock()
			if ok {
				return propValue{b: b, found: true}
			}
		}
		if b, ok := v.rootProps[key]; ok {
			return propValue{b: b, found: true}
		}
	}
	return propValue{}
}

func headerProp(f *Fields, key []byte, n int) propValue {
	switch n {
	case 2:
		return propValue{fields: f, found: true}
	case 3:
		for i := range *f {
			if equalFold((*f)[i].Name, key) {
				return propValue{s: (*f)[i].Value, found: true}
			}
		}
	}
	return propValue{}
}

func (v *vm) proxyGetProperty(st []uint64) abi.Status {
	path, ok := v.read(u32(st, 0), u32(st, 1))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	pv := v.property(path)
	// path is a view of guest memory: not used below, where we allocate.
	switch {
	case !pv.found:
		return abi.StatusNotFound
	case pv.fields != nil:
		return v.returnFields(*pv.fields, u32(st, 2), u32(st, 3))
	case pv.b != nil:
		return v.returnBytes(pv.b, u32(st, 2), u32(st, 3))
	default:
		return v.returnString(pv.s, u32(st, 2), u32(st, 3))
	}
}

func (v *vm) proxySetProperty(st []uint64) abi.Status {
	path, ok1 := v.read(u32(st, 0), u32(st, 1))
	val, ok2 := v.read(u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	var first []byte
	if abi.SplitPath(path, func(i int, s []byte) {
		if i == 0 {
			first = s
		}
	}) == 0 {
		return abi.StatusBadArgument
	}
	if reservedProperty[string(first)] {
		return abi.StatusBadArgument // host-owned, read-only
	}
	key, b := strings.TrimSuffix(string(path), "\x00"), append([]byte(nil), val...)
	if v.cur != nil {
		s := v.cur.s
		s.mu.Lock()
		if s.props == nil {
			s.props = map[string][]byte{}
		}
		s.props[key] = b
		s.mu.Unlock()
		return abi.StatusOK
	}
	if v.rootProps == nil {
		v.rootProps = map[string][]byte{}
	}
	v.rootProps[key] = b
	return abi.StatusOK
}

package live

import "bytes"

// headerValue returns the value of the first field called name (ASCII
// case-insensitive) in an HTTP/1.1 message's head; raw starts with the
// start line. The filters produced these bytes, so they are parsed with
// care but not trusted: a head without its end stops at what is there.
func headerValue(raw []byte, name string) (string, bool) {
	i := bytes.Index(raw, []byte("\r\n"))
	if i < 0 {
		return "", false
	}
	raw = raw[i+2:]
	for len(raw) > 0 {
		line := raw
		if j := bytes.Index(raw, []byte("\r\n")); j >= 0 {
			line, raw = raw[:j], raw[j+2:]
		} else {
			raw = nil
		}
		if len(line) == 0 {
			break // end of the head
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || !equalFold(line[:colon], name) {
			continue
		}
		return string(bytes.Trim(line[colon+1:], " \t")), true
	}
	return "", false
}

// tokenIn reports whether a comma-separated field value lists tok (ASCII
// case-insensitive), as Connection: keep-alive, close does.
func tokenIn(v []byte, tok string) bool {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(bytes.Trim(item, " \t"), tok) {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

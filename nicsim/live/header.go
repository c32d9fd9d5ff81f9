package live

import (
	"bytes"
	"strings"
)

// tokenIn reports whether a comma-separated field value lists tok (ASCII
// case-insensitive), as "Connection: keep-alive, close" does.
func tokenIn(v []byte, tok string) bool {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if strings.EqualFold(string(bytes.Trim(item, " \t")), tok) {
			return true
		}
	}
	return false
}

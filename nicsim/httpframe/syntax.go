package httpframe

// Small RFC 9110/9112 syntax helpers; none allocates.

// tchar marks the token characters of RFC 9110 section 5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualFold compares b with s (given in lower case) case-insensitively.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// parseContentLength accepts 1*DIGIT, or a list of identical values
// ("5, 5") as RFC 9110 section 8.6 allows a recipient to.
func parseContentLength(b []byte) (int64, bool) {
	var first int64 = -1
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != ',' {
			i++
		}
		v := trimOWS(b[:i])
		if len(v) == 0 || len(v) > 18 {
			return 0, false
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int64(c-'0')
		}
		if first >= 0 && n != first {
			return 0, false
		}
		first = n
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return first, first >= 0
}

// lastCodingIsChunked reports whether the final transfer coding in a
// Transfer-Encoding value is "chunked".
func lastCodingIsChunked(te []byte) bool {
	end := len(te)
	i := end - 1
	for i >= 0 && te[i] != ',' {
		i--
	}
	last := trimOWS(te[i+1 : end])
	// strip parameters (none are defined for chunked, but be exact)
	return asciiEqualFold(last, "chunked")
}

// parseVersion accepts "HTTP/1.0" and "HTTP/1.1" and returns the minor.
func parseVersion(b []byte) (int, bool) {
	if len(b) != 8 || string(b[:7]) != "HTTP/1." || (b[7] != '0' && b[7] != '1') {
		return 0, false
	}
	return int(b[7] - '0'), true
}

// parseChunkSize parses a chunk-size line: hex digits, then optional
// ";ext" chunk extensions (ignored) and whitespace.
func parseChunkSize(l []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if i >= 15 {
			return 0, false // beyond 2^60: refuse rather than overflow
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	r := trimOWS(l[i:])
	if len(r) > 0 && r[0] != ';' {
		return 0, false
	}
	return n, true
}

// clip shortens a byte string for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

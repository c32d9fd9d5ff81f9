package report

import "bytes"

// indentJSON lays out compact JSON for people: one object member per line,
// indented, but arrays of numbers and strings (the latency histograms) on a
// single line, where json.MarshalIndent would spend a line per value and
// make results.json several times larger.
func indentJSON(compact []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(compact) + len(compact)/4)
	type level struct{ flat bool }
	var stack []level
	newline := func() {
		out.WriteByte('\n')
		for range stack {
			out.WriteString(" ")
		}
	}
	flat := func() bool { return len(stack) > 0 && stack[len(stack)-1].flat }
	inString := false
	for i := 0; i < len(compact); i++ {
		c := compact[i]
		if inString {
			out.WriteByte(c)
			switch c {
			case '\\':
				i++
				if i < len(compact) {
					out.WriteByte(compact[i])
				}
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			out.WriteByte(c)
		case '{', '[':
			// An array stays on one line when it holds no objects or arrays.
			isFlat := false
			if c == '[' {
				j := i + 1
				isFlat = j < len(compact) && compact[j] != '{' && compact[j] != '['
			}
			empty := i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']')
			out.WriteByte(c)
			stack = append(stack, level{flat: isFlat || flat()})
			if !flat() && !empty {
				newline()
			}
		case '}', ']':
			wasFlat := flat()
			stack = stack[:len(stack)-1]
			if !wasFlat && i > 0 && compact[i-1] != '{' && compact[i-1] != '[' {
				newline()
			}
			out.WriteByte(c)
		case ',':
			out.WriteByte(c)
			if flat() {
				continue
			}
			newline()
		case ':':
			out.WriteString(": ")
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('\n')
	return out.Bytes()
}

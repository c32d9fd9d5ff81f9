package wasmcheck

import "fmt"

// checker walks a module once, front to back. It reads within a region (a
// section, a name subsection or a function body) whose end bounds every
// count and length, and keeps what errors need to say where they are.
type checker struct {
	b      []byte
	p      int    // next byte to read
	end    int    // end of the region being read
	region string // what end is the end of, for errors: "section", "code entry", ...

	sec        string // section being read, for errors (see Error.Section)
	subsection string // name subsection being read, or ""
	item       string // entry being read ("import", "code entry", ...), or ""
	index      uint64 // its index

	ntypes        uint64 // function types defined (the type section's, rec groups included)
	importedFuncs uint64 // function imports, for naming functions in errors
	tables        uint64 // tables imported and defined
	tags          uint64 // tags imported and defined
	funcs         uint64 // entries of the function section
	haveFuncs     bool   // whether there is a function section
	haveCode      bool   // whether there is a code section
	locals        uint64 // locals declared by the bodies so far
	allowance     uint64 // locals the module may declare in all
}

// at describes the entry being read, as a prefix for an error's reason.
func (c *checker) at() string {
	s := ""
	if c.subsection != "" {
		s = c.subsection + " subsection: "
	}
	switch {
	case c.item == "code entry":
		s += fmt.Sprintf("code entry %d (function %d): ", c.index, c.importedFuncs+c.index)
	case c.item != "":
		s += fmt.Sprintf("%s %d: ", c.item, c.index)
	}
	return s
}

// fail reports malformed input at byte offset off.
func (c *checker) fail(off int, format string, args ...any) error {
	return &Error{Section: c.sec, Offset: off, Reason: c.at() + fmt.Sprintf(format, args...)}
}

// limit reports a count or size beyond one of the stated limits.
func (c *checker) limit(off int, format string, args ...any) error {
	return &Error{Section: c.sec, Offset: off, Reason: c.at() + fmt.Sprintf(format, args...), Limit: true}
}

// truncated reports that what, starting at off, does not fit in the region.
func (c *checker) truncated(off int, what string) error {
	return c.fail(off, "truncated %s: the %s ends at byte offset %d", what, c.region, c.end)
}

// byte1 reads one byte.
func (c *checker) byte1(what string) (byte, error) {
	if c.p >= c.end {
		return 0, c.truncated(c.p, what)
	}
	x := c.b[c.p]
	c.p++
	return x, nil
}

// skip skips n bytes.
func (c *checker) skip(n uint64, what string) error {
	if n > uint64(c.end-c.p) {
		return c.fail(c.p, "%s of %d bytes runs past the end of the %s (%d bytes remain)", what, n, c.region, c.end-c.p)
	}
	c.p += int(n)
	return nil
}

// LEB128 problems, reported by leb.
const (
	lebOK = iota
	lebTruncated
	lebTooLong
	lebOverflow
)

// leb decodes an unsigned 32-bit LEB128 number: at most 5 bytes, the last of
// which may only carry bits 28 to 31. (Padded encodings within 5 bytes are
// valid wasm: linkers write them for relocated numbers.)
func (c *checker) leb() (uint32, int) {
	var v uint32
	for i := 0; i < 5; i++ {
		if c.p >= c.end {
			return 0, lebTruncated
		}
		x := c.b[c.p]
		c.p++
		v |= uint32(x&0x7f) << (7 * i)
		if x < 0x80 {
			if i == 4 && x > 0x0f {
				return 0, lebOverflow
			}
			return v, lebOK
		}
	}
	return 0, lebTooLong
}

// lebError reports a problem with the number at start, named what+suffix
// (the caller builds no string unless there is an error).
func (c *checker) lebError(start, problem int, what, suffix string) error {
	what += suffix
	switch problem {
	case lebTruncated:
		return c.truncated(start, what)
	case lebOverflow:
		return c.fail(start, "%s: LEB128 number overflows 32 bits", what)
	default:
		return c.fail(start, "%s: LEB128 number longer than 5 bytes", what)
	}
}

// u32 reads an unsigned 32-bit LEB128 number.
func (c *checker) u32(what string) (uint32, error) {
	start := c.p
	v, problem := c.leb()
	if problem != lebOK {
		return 0, c.lebError(start, problem, what, "")
	}
	return v, nil
}

// signed skips a signed LEB128 number of the given width (32, 33 or 64
// bits): at most ceil(bits/7) bytes, the unused high bits of the last one
// copies of the sign bit.
func (c *checker) signed(bits int, what string) error {
	start := c.p
	maxBytes := (bits + 6) / 7
	for i := 0; i < maxBytes; i++ {
		if c.p >= c.end {
			return c.truncated(start, what)
		}
		x := c.b[c.p]
		c.p++
		if x < 0x80 {
			if i == maxBytes-1 {
				used := bits - 7*i // value bits in this byte, the sign included
				m := byte(0x7f) &^ (1<<(used-1) - 1)
				if x&m != 0 && x&m != m {
					return c.fail(start, "%s: LEB128 number overflows %d bits", what, bits)
				}
			}
			return nil
		}
	}
	return c.fail(start, "%s: LEB128 number longer than %d bytes", what, maxBytes)
}

// count reads the length of a vector whose entries take at least minSize
// bytes each. It checks the length against the bytes that remain in the
// region first, then against max (a limit).
func (c *checker) count(what string, minSize int, max uint64) (uint64, error) {
	start := c.p
	n, problem := c.leb()
	if problem != lebOK {
		return 0, c.lebError(start, problem, "number of ", what)
	}
	left := c.end - c.p
	if uint64(n)*uint64(minSize) > uint64(left) {
		return 0, c.fail(start, "declares %d %s but only %d bytes remain in the %s (each needs at least %d)",
			n, what, left, c.region, minSize)
	}
	if uint64(n) > max {
		return 0, c.limit(start, "declares %d %s, more than the limit of %d", n, what, max)
	}
	return uint64(n), nil
}

// name skips a length-prefixed name (UTF-8 validity is wazero's to check)
// and returns the offset of its first byte.
func (c *checker) name(what string) (int, error) {
	start := c.p
	n, problem := c.leb()
	if problem != lebOK {
		return 0, c.lebError(start, problem, what, " length")
	}
	if uint64(n) > uint64(c.end-c.p) {
		return 0, c.fail(start, "%s of %d bytes runs past the end of the %s (%d bytes remain)", what, n, c.region, c.end-c.p)
	}
	c.p += int(n)
	return c.p - int(n), nil
}

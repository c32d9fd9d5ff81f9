package bookinfo

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nicrt/nicrt/bookinfo-harness/bookinfo/internal/jsontree"
)

// Each original service reads the product id from its URL with its own
// language's integer parser, and echoes what that parser made of it. These
// functions reproduce the three parsers so that, for example, details answers
// /details/0x1F with id 31 (Ruby's Integer()) and ratings answers /ratings/12abc
// with id 12 (JavaScript's parseInt).

// maxRadixDigits bounds non-decimal ids (hex, octal, binary), whose decimal
// form needs a big-number conversion; decimal ids of any length are echoed
// without one.
const maxRadixDigits = 4096

// rubyInteger parses s as Ruby's Kernel#Integer(s) does (details: Integer of
// the last path segment) and returns the value in decimal. Accepted: optional
// surrounding whitespace, one sign, a 0x/0b/0o/0d prefix or a leading 0 for
// octal, and single underscores between digits.
func rubyInteger(s string) (string, bool) {
	s = strings.Trim(s, " \t\n\v\f\r")
	if s == "" {
		return "", false
	}
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if len(s) >= 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base, s = 16, s[2:]
		case 'b', 'B':
			base, s = 2, s[2:]
		case 'o', 'O':
			base, s = 8, s[2:]
		case 'd', 'D':
			base, s = 10, s[2:]
		default:
			base, s = 8, s[1:] // "017" is octal; "0_17" too
			if s[0] == '_' {
				s = s[1:]
				if s == "" {
					return "", false
				}
			}
		}
	}
	// Digits with single underscores between them.
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return "", false
	}
	var digits strings.Builder
	clean := !strings.Contains(s, "_")
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i-1] == '_' {
				return "", false
			}
			continue
		}
		if digitValue(c) >= base {
			return "", false
		}
		if !clean {
			digits.WriteByte(c)
		}
	}
	ds := s
	if !clean {
		ds = digits.String()
	}
	if base == 10 {
		ds = strings.TrimLeft(ds, "0")
		if ds == "" {
			return "0", true
		}
		if neg {
			return "-" + ds, true
		}
		return ds, true
	}
	if len(ds) > maxRadixDigits {
		return "", false
	}
	var n big.Int
	if _, ok := n.SetString(ds, base); !ok {
		return "", false
	}
	if neg {
		n.Neg(&n)
	}
	return n.String(), true
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// javaInt parses s as JAX-RS converts an int path parameter (reviews), with
// Integer.parseInt: optional sign, decimal digits, 32-bit range.
func javaInt(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

// jsParseInt parses s as JavaScript's parseInt(s) does (ratings: parseInt of
// the last '/'-separated piece of the raw URL, query included): leading white
// space, one sign, "0x" for hex, then as many digits as there are. ok is false
// where JavaScript would produce NaN.
func jsParseInt(s string) (float64, bool) {
	for s != "" {
		r, size := utf8.DecodeRuneInString(s)
		if !jsSpace(r) {
			break
		}
		s = s[size:]
	}
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	end := 0
	for end < len(s) && digitValue(s[end]) < base {
		end++
	}
	if end == 0 {
		return 0, false
	}
	var f float64
	if base == 10 {
		f, _ = strconv.ParseFloat(s[:end], 64) // ±Inf past the double range, as JavaScript
	} else {
		f, _ = strconv.ParseFloat("0x"+s[:end]+"p0", 64)
	}
	if neg {
		f = -f
	}
	if f == 0 {
		f = 0 // JSON.stringify(-0) is "0"
	}
	return f, true
}

// jsSpace reports whether r is white space for JavaScript's parseInt.
func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsNumberKey is the text ratings uses for an id: JSON.stringify's rendering,
// which also keys its in-memory ratings.
func jsNumberKey(f float64) string {
	if math.IsInf(f, 0) {
		return "null"
	}
	var buf [32]byte
	return string(jsontree.AppendJSNumber(buf[:0], f))
}

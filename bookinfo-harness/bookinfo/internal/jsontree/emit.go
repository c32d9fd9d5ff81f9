package jsontree

import (
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// dialect is how one language's JSON printer spells a decoded document.
type dialect struct {
	comma, colon string
	asciiOnly    bool // escape everything outside printable ASCII
	number       func(dst []byte, literal string) []byte
}

var (
	python = dialect{comma: ", ", colon: ": ", asciiOnly: true, number: AppendPythonNumber}
	js     = dialect{comma: ",", colon: ":", number: func(dst []byte, lit string) []byte {
		f, _ := strconv.ParseFloat(lit, 64) // ±Inf on overflow, as JavaScript
		return AppendJSNumber(dst, f)
	}}
)

// AppendPython appends v as Python's json.dumps prints a value it decoded
// (simplejson defaults: ", " and ": " separators, non-ASCII escaped as \uXXXX,
// floats in repr form, NaN/Infinity literals). Bookinfo's productpage re-prints
// upstream JSON this way, so its API bodies keep the original's bytes.
func AppendPython(dst []byte, v Value) []byte { return python.append(dst, v) }

// AppendJS appends v as JavaScript's JSON.stringify prints a value that
// JSON.parse produced: compact, numbers as doubles, only '"', '\\' and control
// characters escaped. (Member order is kept as received; JavaScript would move
// integer-like keys first and merge duplicates — see docs/bookinfo.md.)
func AppendJS(dst []byte, v Value) []byte { return js.append(dst, v) }

func (d *dialect) append(dst []byte, v Value) []byte {
	switch v.Kind() {
	case Null:
		return append(dst, "null"...)
	case True:
		return append(dst, "true"...)
	case False:
		return append(dst, "false"...)
	case Number:
		return d.number(dst, v.Text())
	case String:
		return appendQuoted(dst, v.Text(), d.asciiOnly)
	case Array, Object:
		open, close := byte('['), byte(']')
		if v.Kind() == Object {
			open, close = '{', '}'
		}
		dst = append(dst, open)
		for c := v.First(); c.Exists(); c = c.Next() {
			if c != v.First() {
				dst = append(dst, d.comma...)
			}
			if v.Kind() == Object {
				dst = appendQuoted(dst, c.Key(), d.asciiOnly)
				dst = append(dst, d.colon...)
			}
			dst = d.append(dst, c)
		}
		return append(dst, close)
	}
	return dst
}

// AppendPythonNumber appends a JSON number literal as Python re-prints it after
// decoding: integers keep every digit ("-0" becomes "0"), anything with a
// fraction or exponent becomes a float printed by repr.
func AppendPythonNumber(dst []byte, lit string) []byte {
	isInt := true
	for i := 0; i < len(lit); i++ {
		if c := lit[i]; c == '.' || c == 'e' || c == 'E' {
			isInt = false
			break
		}
	}
	if isInt {
		if lit == "-0" {
			return append(dst, '0')
		}
		return append(dst, lit...)
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(f, 0) {
		return append(dst, lit...) // not reachable for literals the parser accepted
	}
	return AppendPythonFloat(dst, f)
}

// AppendPythonFloat appends f as Python's repr(float) does: the shortest digits
// that round-trip, fixed notation for decimal exponents in [-4, 16) (always
// with a fractional part), otherwise d.ddde±XX.
func AppendPythonFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	var buf [32]byte
	neg, digits, exp := shortestDigits(&buf, f)
	if neg {
		dst = append(dst, '-')
	}
	// exp is the decimal exponent of the first digit: value = 0.d1d2... × 10^(exp+1).
	if exp >= -4 && exp < 16 {
		return appendFixed(dst, digits, exp, true)
	}
	return appendExp(dst, digits, exp, true) // Python pads the exponent to two digits
}

// AppendJSNumber appends f as JavaScript's Number.prototype.toString (and so
// JSON.stringify) prints it; NaN and infinities print as null, as
// JSON.stringify does.
func AppendJSNumber(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0') // also -0
	}
	var buf [32]byte
	neg, digits, exp := shortestDigits(&buf, f)
	if neg {
		dst = append(dst, '-')
	}
	// ECMAScript's n is exp+1 (the position of the decimal point).
	n := exp + 1
	if n >= -5 && n <= 21 {
		return appendFixed(dst, digits, exp, false)
	}
	return appendExp(dst, digits, exp, false)
}

// appendExp writes d[.ddd]e±X: digits in scientific notation with a signed
// exponent, padded to two digits when pad is set.
func appendExp(dst, digits []byte, exp int, pad bool) []byte {
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if exp < 0 {
		dst = append(dst, '-')
		exp = -exp
	} else {
		dst = append(dst, '+')
	}
	if pad && exp < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}

// shortestDigits returns f's sign, its shortest round-tripping decimal digits
// (in buf) and the decimal exponent of the first digit.
func shortestDigits(buf *[32]byte, f float64) (neg bool, digits []byte, exp int) {
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	if b[0] == '-' {
		neg = true
		b = b[1:]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == 'e' {
			for _, c := range b[i+2:] {
				exp = exp*10 + int(c-'0')
			}
			if b[i+1] == '-' {
				exp = -exp
			}
			b = b[:i]
			break
		}
	}
	// b is "d" or "d.ddd": drop the point in place.
	if len(b) > 1 {
		copy(b[1:], b[2:])
		b = b[:len(b)-1]
	}
	return neg, b, exp
}

// appendFixed writes digits with the decimal point after position exp+1.
// pointZero forces a ".0" on integral values (Python's float repr).
func appendFixed(dst, digits []byte, exp int, pointZero bool) []byte {
	point := exp + 1
	switch {
	case point <= 0:
		dst = append(dst, "0."...)
		for i := 0; i < -point; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case point >= len(digits):
		dst = append(dst, digits...)
		for i := len(digits); i < point; i++ {
			dst = append(dst, '0')
		}
		if pointZero {
			dst = append(dst, ".0"...)
		}
		return dst
	default:
		dst = append(dst, digits[:point]...)
		dst = append(dst, '.')
		return append(dst, digits[point:]...)
	}
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendQuoted appends s as a JSON string. Both dialects escape '"', '\\' and
// control characters (with the short forms where JSON has them); asciiOnly
// (Python) also escapes DEL and every non-ASCII character as \uXXXX, using
// surrogate pairs past U+FFFF.
func appendQuoted(dst []byte, s string, asciiOnly bool) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf || (c == 0x7f && asciiOnly) {
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			switch {
			case !asciiOnly:
				dst = utf8.AppendRune(dst, r)
			case r >= 0x10000:
				r1, r2 := surrogates(r)
				dst = appendU4(appendU4(dst, r1), r2)
			default:
				dst = appendU4(dst, r)
			}
			continue
		}
		i++
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			if c < 0x20 {
				dst = appendU4(dst, rune(c))
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// AppendString appends s as a JSON string with only the escapes JSON
// requires, for services that build their bodies by hand.
func AppendString(dst []byte, s string) []byte { return appendQuoted(dst, s, false) }

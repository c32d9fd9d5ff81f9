// Package jsontree parses JSON text into a flat tree of nodes and writes a tree
// back the way another language's runtime would print it.
//
// Bookinfo's services were written in Python, Ruby, Java and JavaScript, and
// each re-prints JSON it received in its own dialect (Python's json.dumps puts
// a space after ',' and ':' and escapes non-ASCII; JavaScript's JSON.stringify
// is compact and prints numbers as doubles). A Go re-implementation that keeps
// the wire bytes needs a small parser that keeps key order and number literals,
// and emitters for those dialects; encoding/json does neither without
// reflection. A Tree is reusable: Parse resets it and keeps its node storage,
// so a pooled Tree parses without allocating when strings need no unescaping.
package jsontree

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON type of a node.
type Kind uint8

// The JSON kinds. Missing is the kind of a Value that does not exist (a key
// that is absent, or an index past the end).
const (
	Missing Kind = iota
	Null
	False
	True
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"missing", "null", "false", "true", "number", "string", "array", "object"}

// String names the kind as JSON documentation would.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// MaxDepth bounds nesting so hostile input cannot exhaust the stack.
const MaxDepth = 256

type node struct {
	kind  Kind
	key   string // member name when the parent is an object (decoded)
	text  string // String: decoded value; Number: the literal as written
	first int32  // first child, -1 when none
	next  int32  // next sibling, -1 when none
}

// Tree holds one parsed JSON document. The zero Tree is ready to use.
type Tree struct {
	nodes []node
	src   string
	pos   int
	depth int
}

// SyntaxError reports where and why a document is not JSON.
type SyntaxError struct {
	Offset int    // byte offset of the offending input
	Msg    string // what was wrong there
}

// Error says where the input stopped being JSON and why.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Parse replaces t's contents with the document in src. On error t holds no
// document (Root is Missing). String values that need no unescaping share
// src's memory.
func (t *Tree) Parse(src string) error {
	t.nodes = t.nodes[:0]
	t.src, t.pos, t.depth = src, 0, 0
	t.skipSpace()
	if _, err := t.value(""); err != nil {
		t.nodes = t.nodes[:0]
		return err
	}
	t.skipSpace()
	if t.pos != len(t.src) {
		t.nodes = t.nodes[:0]
		return t.errorf("unexpected %s after the top-level value", t.describe())
	}
	return nil
}

// Reset drops the document (keeping storage) so a pooled Tree does not pin
// the last input in memory.
func (t *Tree) Reset() {
	t.nodes = t.nodes[:0]
	t.src = ""
}

// Root is the top-level value, or a Missing Value when t holds no document.
func (t *Tree) Root() Value {
	if len(t.nodes) == 0 {
		return Value{}
	}
	return Value{t: t, i: 0}
}

func (t *Tree) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (t *Tree) describe() string {
	if t.pos >= len(t.src) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", t.src[t.pos])
}

func (t *Tree) skipSpace() {
	for t.pos < len(t.src) {
		switch t.src[t.pos] {
		case ' ', '\t', '\n', '\r':
			t.pos++
		default:
			return
		}
	}
}

func (t *Tree) add(n node) int32 {
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

// value parses one value at t.pos (whitespace already skipped) and returns its
// node index.
func (t *Tree) value(key string) (int32, error) {
	if t.pos >= len(t.src) {
		return 0, t.errorf("unexpected end of input, expected a value")
	}
	switch c := t.src[t.pos]; {
	case c == '{' || c == '[':
		return t.container(key, c)
	case c == '"':
		s, err := t.str()
		if err != nil {
			return 0, err
		}
		return t.add(node{kind: String, key: key, text: s, first: -1, next: -1}), nil
	case c == '-' || (c >= '0' && c <= '9'):
		lit, err := t.number()
		if err != nil {
			return 0, err
		}
		return t.add(node{kind: Number, key: key, text: lit, first: -1, next: -1}), nil
	case strings.HasPrefix(t.src[t.pos:], "true"):
		t.pos += 4
		return t.add(node{kind: True, key: key, first: -1, next: -1}), nil
	case strings.HasPrefix(t.src[t.pos:], "false"):
		t.pos += 5
		return t.add(node{kind: False, key: key, first: -1, next: -1}), nil
	case strings.HasPrefix(t.src[t.pos:], "null"):
		t.pos += 4
		return t.add(node{kind: Null, key: key, first: -1, next: -1}), nil
	default:
		return 0, t.errorf("unexpected %s, expected a value", t.describe())
	}
}

func (t *Tree) container(key string, open byte) (int32, error) {
	t.depth++
	if t.depth > MaxDepth {
		return 0, t.errorf("nesting deeper than %d levels", MaxDepth)
	}
	kind, closer := Array, byte(']')
	if open == '{' {
		kind, closer = Object, '}'
	}
	self := t.add(node{kind: kind, key: key, first: -1, next: -1})
	t.pos++ // the opener
	t.skipSpace()
	if t.pos < len(t.src) && t.src[t.pos] == closer {
		t.pos++
		t.depth--
		return self, nil
	}
	prev := int32(-1)
	for {
		var name string
		if kind == Object {
			if t.pos >= len(t.src) || t.src[t.pos] != '"' {
				return 0, t.errorf("unexpected %s, expected a member name string", t.describe())
			}
			var err error
			if name, err = t.str(); err != nil {
				return 0, err
			}
			t.skipSpace()
			if t.pos >= len(t.src) || t.src[t.pos] != ':' {
				return 0, t.errorf("unexpected %s, expected ':' after a member name", t.describe())
			}
			t.pos++
			t.skipSpace()
		}
		child, err := t.value(name)
		if err != nil {
			return 0, err
		}
		if prev < 0 {
			t.nodes[self].first = child
		} else {
			t.nodes[prev].next = child
		}
		prev = child
		t.skipSpace()
		if t.pos >= len(t.src) {
			return 0, t.errorf("unexpected end of input inside %s", kind)
		}
		switch t.src[t.pos] {
		case ',':
			t.pos++
			t.skipSpace()
		case closer:
			t.pos++
			t.depth--
			return self, nil
		default:
			return 0, t.errorf("unexpected %s inside %s, expected ',' or '%c'", t.describe(), kind, closer)
		}
	}
}

// number scans a JSON number literal and returns it as written.
func (t *Tree) number() (string, error) {
	start := t.pos
	s := t.src
	i := t.pos
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		t.pos = i
		return "", t.errorf("unexpected %s in number, expected a digit", t.describe())
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			t.pos = i
			return "", t.errorf("unexpected %s after decimal point, expected a digit", t.describe())
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			t.pos = i
			return "", t.errorf("unexpected %s in exponent, expected a digit", t.describe())
		}
	}
	t.pos = i
	return s[start:i], nil
}

// str scans a string literal at t.pos and returns its decoded value. Invalid
// UTF-8 and unpaired surrogates decode to U+FFFD, as encoding/json does.
func (t *Tree) str() (string, error) {
	s := t.src
	start := t.pos + 1
	i := start
	// Fast path: no escapes, valid UTF-8: share the source.
	for i < len(s) {
		c := s[i]
		if c == '"' {
			if utf8.ValidString(s[start:i]) {
				t.pos = i + 1
				return s[start:i], nil
			}
			break
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			t.pos = i
			return "", t.errorf("control character %#02x inside a string", c)
		}
		i++
	}
	var b strings.Builder
	b.Grow(i - start + 16)
	i = start
	for {
		if i >= len(s) {
			t.pos = i
			return "", t.errorf("unexpected end of input inside a string")
		}
		c := s[i]
		switch {
		case c == '"':
			t.pos = i + 1
			return b.String(), nil
		case c < 0x20:
			t.pos = i
			return "", t.errorf("control character %#02x inside a string", c)
		case c == '\\':
			if i+1 >= len(s) {
				t.pos = i + 1
				return "", t.errorf("unexpected end of input in an escape")
			}
			e := s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := hex4(s, i)
				if !ok {
					t.pos = i
					return "", t.errorf("invalid \\u escape, expected four hex digits")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							i += 6
							b.WriteRune(dec)
							continue
						}
					}
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				t.pos = i - 2
				return "", t.errorf("invalid escape character %q", e)
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r) // RuneError for invalid bytes
			i += size
		}
	}
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// Value is one node of a Tree, or Missing. Values are small and passed by
// value; they stay valid until the Tree is parsed again or reset.
type Value struct {
	t *Tree
	i int32
}

func (v Value) n() *node { return &v.t.nodes[v.i] }

// Kind is v's JSON type, Missing for a Value that does not exist.
func (v Value) Kind() Kind {
	if v.t == nil {
		return Missing
	}
	return v.n().kind
}

// Exists reports whether v is a value at all.
func (v Value) Exists() bool { return v.t != nil }

// Text is a string's decoded value or a number's literal; "" otherwise.
func (v Value) Text() string {
	if v.t == nil {
		return ""
	}
	return v.n().text
}

// Key is the member name of v inside its object ("" in arrays and at the root).
func (v Value) Key() string {
	if v.t == nil {
		return ""
	}
	return v.n().key
}

// Get returns the first member of object v named key, or Missing.
func (v Value) Get(key string) Value {
	if v.Kind() != Object {
		return Value{}
	}
	for c := v.n().first; c >= 0; c = v.t.nodes[c].next {
		if v.t.nodes[c].key == key {
			return Value{t: v.t, i: c}
		}
	}
	return Value{}
}

// First returns the first element or member of a container, or Missing.
func (v Value) First() Value {
	if k := v.Kind(); k != Array && k != Object {
		return Value{}
	}
	if c := v.n().first; c >= 0 {
		return Value{t: v.t, i: c}
	}
	return Value{}
}

// Next returns the sibling after v in its container, or Missing.
func (v Value) Next() Value {
	if v.t == nil {
		return Value{}
	}
	if c := v.n().next; c >= 0 {
		return Value{t: v.t, i: c}
	}
	return Value{}
}

// Len counts the elements or members of a container (0 for scalars).
func (v Value) Len() int {
	n := 0
	for c := v.First(); c.Exists(); c = c.Next() {
		n++
	}
	return n
}

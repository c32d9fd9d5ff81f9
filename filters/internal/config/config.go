// Package config reads the JSON configurations of nicrt's filters strictly.
//
// A filter configuration comes from whoever wrote the host's config file, so
// it is untrusted input: every field must be known, have the right type and a
// sane value, and any problem must be reported with the path of the field
// (for example "http[0].route[1].weight") instead of being ignored. JSON null
// counts as an absent field, as in protobuf's JSON mapping that Istio uses.
//
// The reader has a sticky error, like bufio.Scanner: callers read every field
// they know with defaults, then ask Err once. Only the first error is kept,
// so the message names the first thing that was wrong.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Error is a configuration problem located at a field path.
type Error struct {
	// Path is the field's location, e.g. "http[0].match[1].headers.end-user";
	// empty for the document as a whole.
	Path string
	// Msg says what is wrong with it.
	Msg string
}

// Error formats the error as "path: message".
func (e *Error) Error() string {
	if e.Path == "" {
		return "configuration: " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

// state is shared by every Object, Array and Value of one document so that
// the first error anywhere wins.
type state struct{ err *Error }

func (s *state) fail(path, format string, args ...any) {
	if s.err == nil {
		s.err = &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
}

// Doc is one parsed configuration document.
type Doc struct {
	st   *state
	root Value
}

// Parse checks that data is exactly one JSON value and returns the document.
// Syntax errors are reported with their byte offset. Empty or all-blank data
// parses as an absent (null) root value.
func Parse(data []byte) *Doc {
	d := &Doc{st: &state{}}
	d.root = Value{st: d.st}
	if len(bytes.TrimSpace(data)) == 0 {
		return d
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		d.st.fail("", "%s", describeSyntax(err, dec.InputOffset()))
		return d
	}
	if _, err := dec.Token(); err != io.EOF {
		d.st.fail("", "unexpected data after the JSON value at byte offset %d", dec.InputOffset())
		return d
	}
	d.root.raw = raw
	return d
}

func describeSyntax(err error, off int64) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// se.Offset counts the bytes read, the offending one included.
		return fmt.Sprintf("invalid JSON at byte offset %d (0-based): %v", max(se.Offset-1, 0), se)
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Sprintf("invalid JSON: unexpected end of input at byte offset %d", off)
	}
	return fmt.Sprintf("invalid JSON near byte offset %d: %v", off, err)
}

// Root returns the document's top-level value.
func (d *Doc) Root() Value { return d.root }

// Err returns the first problem found so far, as an *Error, or nil.
func (d *Doc) Err() error {
	if d.st.err == nil {
		return nil
	}
	return d.st.err
}

// Fail records a problem found by the caller's own validation at path, unless
// an earlier problem was already recorded.
func (d *Doc) Fail(path, format string, args ...any) { d.st.fail(path, format, args...) }

// Value is one JSON value at a known path.
type Value struct {
	st   *state
	path string
	raw  json.RawMessage
}

// Path is the value's location in the document.
func (v Value) Path() string { return v.path }

// At returns the same value reported under another path; a filter whose
// document root is, say, Istio's http list uses it to say "http[0]" rather
// than "[0]".
func (v Value) At(path string) Value { v.path = path; return v }

// Fail records a problem with this value.
func (v Value) Fail(format string, args ...any) { v.st.fail(v.path, format, args...) }

// IsNull reports whether the value is absent or JSON null.
func (v Value) IsNull() bool { return len(v.raw) == 0 || string(v.raw) == "null" }

// Kind returns the JSON kind: "object", "array", "string", "number", "bool" or "null".
func (v Value) Kind() string {
	if v.IsNull() {
		return "null"
	}
	switch v.raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	default:
		return "number"
	}
}

func (v Value) wrongType(want string) {
	v.st.fail(v.path, "must be %s, not %s", want, v.Kind())
}

// String returns the value as a string, recording an error if it is not one.
func (v Value) String() string {
	if v.Kind() != "string" {
		v.wrongType("a string")
		return ""
	}
	var s string
	if err := json.Unmarshal(v.raw, &s); err != nil {
		v.st.fail(v.path, "invalid string: %v", err)
	}
	return s
}

// Bool returns the value as a boolean, recording an error if it is not one.
func (v Value) Bool() bool {
	if v.Kind() != "bool" {
		v.wrongType("true or false")
		return false
	}
	return v.raw[0] == 't'
}

// Float returns the value as a number within [lo, hi].
func (v Value) Float(lo, hi float64) float64 {
	if v.Kind() != "number" {
		v.wrongType("a number")
		return 0
	}
	f, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		v.st.fail(v.path, "invalid number %s", v.raw)
		return 0
	}
	if f < lo || f > hi {
		v.st.fail(v.path, "%s is out of range [%g, %g]", v.raw, lo, hi)
		return 0
	}
	return f
}

// Int returns the value as an integer within [lo, hi]. A number with a
// fraction is an error; 100.0 or 1e2 are accepted as 100.
func (v Value) Int(lo, hi int64) int64 {
	if v.Kind() != "number" {
		v.wrongType("an integer")
		return 0
	}
	if n, err := strconv.ParseInt(string(v.raw), 10, 64); err == nil {
		if n < lo || n > hi {
			v.st.fail(v.path, "%d is out of range [%d, %d]", n, lo, hi)
			return 0
		}
		return n
	}
	f, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
		v.st.fail(v.path, "must be an integer, not %s", v.raw)
		return 0
	}
	if f < float64(lo) || f > float64(hi) {
		v.st.fail(v.path, "%s is out of range [%d, %d]", v.raw, lo, hi)
		return 0
	}
	return int64(f)
}

// Object returns the value as an object. A value that is not an object (or
// an object with a repeated key) records an error and yields an empty object.
func (v Value) Object() *Object {
	o := &Object{st: v.st, path: v.path, asked: map[string]bool{}}
	if v.Kind() != "object" {
		v.wrongType("an object")
		return o
	}
	dec := json.NewDecoder(bytes.NewReader(v.raw))
	if _, err := dec.Token(); err != nil { // '{'
		v.st.fail(v.path, "invalid object: %v", err)
		return o
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			v.st.fail(v.path, "invalid object: %v", err)
			return o
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			v.st.fail(v.path, "invalid object: %v", err)
			return o
		}
		for _, f := range o.fields {
			if f.name == key {
				v.st.fail(o.child(key), "field appears more than once")
				return o
			}
		}
		o.fields = append(o.fields, field{name: key, raw: raw})
	}
	return o
}

// Array returns the elements of the value as an array. A value that is not
// an array records an error and yields no elements.
func (v Value) Array() []Value {
	if v.Kind() != "array" {
		v.wrongType("an array")
		return nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(v.raw, &raws); err != nil {
		v.st.fail(v.path, "invalid array: %v", err)
		return nil
	}
	out := make([]Value, len(raws))
	for i, r := range raws {
		out[i] = Value{st: v.st, path: v.path + "[" + strconv.Itoa(i) + "]", raw: r}
	}
	return out
}

type field struct {
	name string
	raw  json.RawMessage
	used bool
}

// Object is a JSON object whose fields are taken one by one; Done reports
// any field nobody took.
type Object struct {
	st      *state
	path    string
	fields  []field
	asked   map[string]bool
	missing []string // required fields found absent, "name\x00message"
}

// Path is the object's location in the document.
func (o *Object) Path() string { return o.path }

func (o *Object) child(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// Fail records a problem with the field name of this object.
func (o *Object) Fail(name, format string, args ...any) {
	o.st.fail(o.child(name), format, args...)
}

// Get takes the field name; ok is false when it is absent or null.
func (o *Object) Get(name string) (v Value, ok bool) {
	o.asked[name] = true
	for i := range o.fields {
		f := &o.fields[i]
		if f.name == name {
			f.used = true
			v = Value{st: o.st, path: o.child(name), raw: f.raw}
			return v, !v.IsNull()
		}
	}
	return Value{st: o.st, path: o.child(name)}, false
}

// Required takes a field that must be present. If it is absent, the error
// ("required", or the given explanation) is recorded by Done, after any
// unknown field: a misspelt field name is the likelier cause.
func (o *Object) Required(name, explain string) (Value, bool) {
	v, ok := o.Get(name)
	if !ok {
		if explain == "" {
			explain = "required"
		}
		o.missing = append(o.missing, name+"\x00"+explain)
	}
	return v, ok
}

// Has reports whether the field is present and not null, without taking it.
func (o *Object) Has(name string) bool {
	for _, f := range o.fields {
		if f.name == name {
			return string(f.raw) != "null"
		}
	}
	return false
}

// String takes a string field, or returns def when it is absent.
func (o *Object) String(name, def string) string {
	if v, ok := o.Get(name); ok {
		return v.String()
	}
	return def
}

// Bool takes a boolean field, or returns def when it is absent.
func (o *Object) Bool(name string, def bool) bool {
	if v, ok := o.Get(name); ok {
		return v.Bool()
	}
	return def
}

// Int takes an integer field within [lo, hi], or returns def when it is absent.
func (o *Object) Int(name string, def, lo, hi int64) int64 {
	if v, ok := o.Get(name); ok {
		return v.Int(lo, hi)
	}
	return def
}

// Float takes a number field within [lo, hi], or returns def when it is absent.
func (o *Object) Float(name string, def, lo, hi float64) float64 {
	if v, ok := o.Get(name); ok {
		return v.Float(lo, hi)
	}
	return def
}

// Unsupported records an error if the field is present: it is a real field
// of the format being mirrored (Istio's, Envoy's) that this filter does not
// implement, and a user who wrote it must not believe it took effect.
func (o *Object) Unsupported(name, why string) {
	if _, ok := o.Get(name); ok {
		o.st.fail(o.child(name), "not supported: %s", why)
	}
}

// Keys returns the object's field names in document order and takes them
// all; use it for objects that are maps (e.g. Istio's headers).
func (o *Object) Keys() []string {
	keys := make([]string, len(o.fields))
	for i := range o.fields {
		keys[i] = o.fields[i].name
		o.fields[i].used = true
	}
	return keys
}

// Len is the number of fields in the object.
func (o *Object) Len() int { return len(o.fields) }

// Done records an error for the first field nobody took, or else for the
// first missing required field. When the unknown name is the snake_case or
// camelCase spelling of a field that was asked for, the error suggests the
// right spelling.
func (o *Object) Done() {
	o.unknown()
	for _, m := range o.missing {
		name, msg, _ := strings.Cut(m, "\x00")
		o.st.fail(o.child(name), "%s", msg)
	}
}

func (o *Object) unknown() {
	for _, f := range o.fields {
		if f.used {
			continue
		}
		for _, alt := range [...]string{camel(f.name), snake(f.name)} {
			if alt != f.name && o.asked[alt] {
				o.st.fail(o.child(f.name), "unknown field (did you mean %q?)", alt)
				return
			}
		}
		o.st.fail(o.child(f.name), "unknown field")
		return
	}
}

// camel converts snake_case to camelCase (fixed_delay → fixedDelay).
func camel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// snake converts camelCase to snake_case (clusterHeader → cluster_header).
func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

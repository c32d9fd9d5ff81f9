package runtime

// Field is one HTTP header or trailer as Proxy-Wasm sees it: a lowercase
// name, and pseudo-headers (":method", ":path", ":authority", ":scheme",
// ":status") carried as ordinary fields, as in Envoy.
type Field struct {
	Name  string
	Value string
}

// Fields is an ordered HTTP field map that allows repeated names. Data planes
// build one per request and response; filters read and change it through the
// ABI's header-map functions.
type Fields []Field

// Get returns the first value of name, compared ASCII case-insensitively.
func (f Fields) Get(name string) (string, bool) {
	for i := range f {
		if equalFold(f[i].Name, name) {
			return f[i].Value, true
		}
	}
	return "", false
}

// Value returns the first value of name, or "" when absent.
func (f Fields) Value(name string) string {
	v, _ := f.Get(name)
	return v
}

// Set replaces every value of name with one value, appending the field when
// absent. name is lowercased.
func (f *Fields) Set(name, value string) { setField(f, name, value) }

// Add appends a value for name (lowercased), keeping existing ones.
func (f *Fields) Add(name, value string) { *f = append(*f, Field{lower(name), value}) }

// Del removes every value of name.
func (f *Fields) Del(name string) { delField(f, name) }

// name is a header name as the host holds it (string) or as a guest passes
// it (bytes in guest memory).
type name interface{ ~string | ~[]byte }

// setField keeps the first field named key (its existing name string),
// gives it value, and drops later duplicates; a new field gets key
// lowercased.
func setField[K name](f *Fields, key K, value string) {
	if !replaceField(f, key, value) {
		*f = append(*f, Field{lower(string(key)), value})
	}
}

// replaceField is setField for a name already present: it reports false,
// changing nothing, when no field is named key.
func replaceField[K name](f *Fields, key K, value string) bool {
	fs := *f
	for i := range fs {
		if equalFold(fs[i].Name, key) {
			fs[i].Value = value
			j := i + 1
			for k := i + 1; k < len(fs); k++ {
				if !equalFold(fs[k].Name, key) {
					fs[j] = fs[k]
					j++
				}
			}
			clear(fs[j:])
			*f = fs[:j]
			return true
		}
	}
	return false
}

// delField removes every field named key.
func delField[K name](f *Fields, key K) {
	fs := *f
	j := 0
	for i := range fs {
		if !equalFold(fs[i].Name, key) {
			fs[j] = fs[i]
			j++
		}
	}
	clear(fs[j:])
	*f = fs[:j]
}

// Clone returns a copy that shares no storage with f.
func (f Fields) Clone() Fields {
	if f == nil {
		return nil
	}
	return append(Fields(make([]Field, 0, len(f))), f...)
}

// kvSize is the total length of names and values, for the ABI encoding.
func (f Fields) kvSize() int {
	n := 0
	for i := range f {
		n += len(f[i].Name) + len(f[i].Value)
	}
	return n
}

// equalFold reports whether a and b are equal under ASCII case folding;
// header names are ASCII, and unlike strings.EqualFold this never allocates
// or considers Unicode. b may still be in guest memory.
func equalFold[K name](a string, b K) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// lower returns s in ASCII lowercase, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// lowerBytes returns the name in b as a lowercase string (one allocation).
func lowerBytes(b []byte) string { return lower(string(b)) }

package bulkid

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// NestedRule is what becomes of a metadata value that is an object or an
// array. The zero value is NestedRefuse.
type NestedRule string

const (
	// NestedRefuse fails the record with RNestedMetadata: the public docs
	// allow primitives only. It is the default of the bulk endpoints.
	NestedRefuse NestedRule = ""
	// NestedFlatten applies the flatten rule (docs/API.md, "Nested
	// metadata"): an object's members become dotted keys, recursively
	// ({"address":{"city":"Paris"}} is "address.city": "Paris"), and an
	// array becomes a string, its JSON text as sent less the whitespace
	// between tokens (["a", "b"] is "[\"a\",\"b\"]"). The real-time
	// endpoints always flatten; a bulk job does with ?nested=flatten.
	NestedFlatten NestedRule = "flatten"
)

// String returns the rule's name on the wire and in the stores: "refuse"
// or "flatten".
func (r NestedRule) String() string {
	if r == NestedRefuse {
		return "refuse"
	}
	return string(r)
}

// ParseNestedRule reads a rule's name, "refuse" or "flatten".
func ParseNestedRule(s string) (NestedRule, error) {
	switch s {
	case "refuse":
		return NestedRefuse, nil
	case "flatten":
		return NestedFlatten, nil
	}
	return NestedRefuse, Errorf(EINVALID, "nested must be refuse or flatten, not %q.", preview([]byte(s)))
}

// ValidateOptions are the choices of ValidateRecordOpts.
type ValidateOptions struct {
	// Nested is what a metadata value that is an object or an array
	// becomes: NestedRefuse (the zero value) or NestedFlatten.
	Nested NestedRule
}

// maxFlatBytes bounds the flattened metadata of one record. Flattening
// repeats each object's key in front of each of its members' keys, so a
// record of at most MaxRecordBytes could otherwise flatten to far more.
const maxFlatBytes = MaxRecordBytes

// hasNested reports whether the metadata value v is an object with a
// member that is an object or an array.
func hasNested(v *fastjson.Value) bool {
	if v == nil || v.Type() != fastjson.TypeObject {
		return false
	}
	nested := false
	v.GetObject().Visit(func(_ []byte, m *fastjson.Value) {
		if t := m.Type(); t == fastjson.TypeObject || t == fastjson.TypeArray {
			nested = true
		}
	})
	return nested
}

// flattenMetadata rewrites md, a metadata object as written (well-formed
// JSON), into the flat object the flatten rule makes of it, still as
// written: keys are the members' keys joined with '.', each as sent
// (escapes and all), so the flat object is then checked exactly as a flat
// object sent so would be. Members come out in document order, depth
// first, so that of colliding keys the later one wins, as a duplicate key
// does. An empty object contributes no member.
func flattenMetadata(md []byte) ([]byte, *RecordError) {
	f := flattener{out: make([]byte, 0, len(md)+16)}
	f.out = append(f.out, '{')
	if !f.object(nil, false, md) {
		return nil, f.err
	}
	return append(f.out, '}'), nil
}

type flattener struct {
	out []byte
	n   int // members written
	err *RecordError
}

// object writes the members of the raw object obj, their keys after
// prefix (the escaped text of the key so far) and a '.' when nested. Of
// members of one object with the same name only the last is written, as
// the last of duplicates wins in a flat object: {"a":{"x":1},"a":2} is
// {"a":2}. It returns false once it has failed, with f.err set.
func (f *flattener) object(prefix []byte, nested bool, obj []byte) bool {
	var members [][2][]byte
	ObjectMembers(obj, func(name, value []byte) { members = append(members, [2][]byte{name, value}) })
	var last map[string]int
	if len(members) > 1 {
		last = make(map[string]int, len(members))
		for i, m := range members {
			last[dedupeName(m[0])] = i
		}
	}
	for i, m := range members {
		name, value := m[0], m[1]
		if last != nil && last[dedupeName(name)] != i {
			continue
		}
		key := name[1 : len(name)-1] // as written, without its quotes
		if nested {
			key = append(append(append(make([]byte, 0, len(prefix)+1+len(key)), prefix...), '.'), key...)
		}
		var ok bool
		switch value[0] {
		case '{':
			ok = f.object(key, true, value)
		case '[':
			ok = f.member(key, func(dst []byte) []byte { return appendString(dst, string(compactJSON(value))) })
		default: // a string, number, true, false or null, as sent
			ok = f.member(key, func(dst []byte) []byte { return append(dst, value...) })
		}
		if !ok {
			return false
		}
	}
	return true
}

// dedupeName is what tells the names of members apart, name as written:
// the text it stands for. A name that stands for no text (it is not
// UTF-8, or holds an unpaired surrogate escape) is told apart by its
// spelling, so that no decoder's replacement character makes two such
// names one: each fails as written, unless its value adds no key.
func dedupeName(name []byte) string {
	if bytes.IndexByte(name, '\\') < 0 && utf8.Valid(name) {
		return string(name[1 : len(name)-1])
	}
	if !utf8.Valid(name) || loneSurrogate(name) != "" {
		return "\x00" + string(name)
	}
	return MemberName(name)
}

// member writes "key": and the value appendValue appends.
func (f *flattener) member(key []byte, appendValue func([]byte) []byte) bool {
	if f.n++; f.n > MaxMetadataKeys {
		f.err = &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf(
			"metadata flattens to more than %d keys; at most %d are allowed", MaxMetadataKeys, MaxMetadataKeys)}
		return false
	}
	if f.n > 1 {
		f.out = append(f.out, ',')
	}
	f.out = append(f.out, '"')
	f.out = append(f.out, key...)
	f.out = append(f.out, '"', ':')
	f.out = appendValue(f.out)
	if len(f.out) > maxFlatBytes {
		f.err = &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf(
			"metadata flattens to more than %d bytes (1 MiB) of keys and values; nest less, or use shorter keys", maxFlatBytes)}
		return false
	}
	return true
}

// compactJSON returns the well-formed JSON text raw without the whitespace
// between its tokens; strings stay exactly as written.
func compactJSON(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		out = append(out, c)
	}
	return out
}

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
	// WellFormed says the caller knows the record passed WellFormed, so
	// it is parsed without being checked first: the records of a job made
	// of a JSON body (Job.Source SourceJSON) were each checked so by the
	// reader that accepted it (ingest.ScanJSON), which answers 400 to a
	// body with any other. The result is the same as without it, for
	// such a record; for another it is undefined.
	WellFormed bool
}

// RealtimeOptions returns the validation options of the real-time
// endpoints (POST /v1/identify, /v1/companies/identify, /v1/track): they
// always flatten nested metadata, since the integrations that call them
// send it and drop a request that is refused.
func RealtimeOptions() ValidateOptions { return ValidateOptions{Nested: NestedFlatten} }

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
	if !f.object(false, md) {
		return nil, f.err
	}
	return append(f.out, '}'), nil
}

type flattener struct {
	out []byte
	key []byte // the key so far, escaped as written: a stack, one name a level
	n   int    // members written
	err *RecordError
}

// objMember is a member of an object as written: its name with quotes,
// and its value.
type objMember struct{ name, value []byte }

// object writes the members of the raw object obj, their keys after f.key
// and a '.' when nested. Of members of one object with the same name only
// the last is written, as the last of duplicates wins in a flat object:
// {"a":{"x":1},"a":2} is {"a":2}. It returns false once it has failed,
// with f.err set.
func (f *flattener) object(nested bool, obj []byte) bool {
	var buf [16]objMember
	members := buf[:0]
	ObjectMembers(obj, func(name, value []byte) { members = append(members, objMember{name, value}) })
	superseded := duplicates(members)
	base := len(f.key)
	for i, m := range members {
		if superseded != nil && superseded[i] {
			continue
		}
		if nested {
			f.key = append(f.key, '.')
		}
		f.key = append(f.key, m.name[1:len(m.name)-1]...) // as written, without its quotes
		ok := true
		if m.value[0] == '{' {
			ok = f.object(true, m.value)
		} else {
			ok = f.member(m.value)
		}
		f.key = f.key[:base]
		if !ok {
			return false
		}
	}
	return true
}

// duplicates returns which of members a later member of the same name
// supersedes, or nil if none does.
func duplicates(members []objMember) []bool {
	var superseded []bool
	mark := func(i int) {
		if superseded == nil {
			superseded = make([]bool, len(members))
		}
		superseded[i] = true
	}
	if len(members) <= 16 {
		for i := range members {
			for j := i + 1; j < len(members); j++ {
				if sameName(members[i].name, members[j].name) {
					mark(i)
					break
				}
			}
		}
		return superseded
	}
	last := make(map[string]int, len(members))
	for i, m := range members {
		name := dedupeName(m.name)
		if prev, ok := last[name]; ok {
			mark(prev)
		}
		last[name] = i
	}
	return superseded
}

// sameName reports whether two names as written are the same name.
func sameName(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true // one spelling is one name, whatever it stands for
	}
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return false // distinct bytes without escapes: distinct text
	}
	return dedupeName(a) == dedupeName(b)
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

// member writes "key": value, the key f.key and value as written: an
// array as its compact text in a JSON string, anything else as it is.
func (f *flattener) member(value []byte) bool {
	if f.n++; f.n > MaxMetadataKeys {
		f.err = &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf(
			"metadata flattens to more than %d keys; at most %d are allowed", MaxMetadataKeys, MaxMetadataKeys)}
		return false
	}
	if f.n > 1 {
		f.out = append(f.out, ',')
	}
	f.out = append(f.out, '"')
	f.out = append(f.out, f.key...)
	f.out = append(f.out, '"', ':')
	if value[0] == '[' {
		f.out = appendCompactString(f.out, value)
	} else { // a string, number, true, false or null, as sent
		f.out = append(f.out, value...)
	}
	if len(f.out) > maxFlatBytes {
		f.err = &RecordError{Code: RInvalidMetadata, Message: fmt.Sprintf(
			"metadata flattens to more than %d bytes (1 MiB) of keys and values; nest less, or use shorter keys", maxFlatBytes)}
		return false
	}
	return true
}

// appendCompactString appends the well-formed JSON text raw, without the
// whitespace between its tokens, as a JSON string: its quotes and
// backslashes escaped. Nothing else needs escaping: well-formed JSON
// holds no control character but that whitespace.
func appendCompactString(dst, raw []byte) []byte {
	dst = append(dst, '"')
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
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

package bulkid

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"

	"github.com/valyala/fastjson"
)

// This file reads JSON text as sent, below the decoders: a decoder turns an
// unpaired UTF-16 surrogate escape ("\ud800") into some replacement, so two
// different strings would read as one. Escapes are checked here, on the
// string as written. It also walks the flat objects of metadata member by
// member as raw bytes (members), so that the merge copies them unparsed.

// ObjectMembers calls fn with the raw text of the name (quotes included)
// and of the value of each member of obj, a well-formed JSON object, in
// order, duplicates included. It reports false, having called fn for the
// members before, if obj is not an object it can walk.
func ObjectMembers(obj []byte, fn func(name, value []byte)) bool {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return true
	}
	for i < len(obj) {
		end := stringEnd(obj, i)
		if end < 0 {
			return false
		}
		name := obj[i:end]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		i = skipSpace(obj, i+1)
		vend := valueEnd(obj, i)
		if vend < 0 {
			return false
		}
		fn(name, obj[i:vend])
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return false
		}
		switch obj[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(obj, i+1)
		default:
			return false
		}
	}
	return false
}

// MemberName returns the name a raw member name of ObjectMembers stands
// for. A name holding an unpaired surrogate escape decodes to something no
// field is named, so comparing it with a field's name is safe.
func MemberName(raw []byte) string {
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i], or -1.
func stringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	// From quote to quote (bytes.IndexByte looks through many bytes at a
	// time): a quote ends the string unless an odd number of backslashes
	// stands right before it.
	for j := i + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		n := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// valueEnd returns the index after the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && bytes.IndexByte([]byte(",]} \t\r\n"), b[j]) < 0 {
			j++
		}
		return j
	}
}

// mayHoldSurrogate reports whether raw may hold a surrogate escape, \uD800
// to \uDFFF: most records hold none, and skip the closer look.
func mayHoldSurrogate(raw []byte) bool {
	for {
		i := bytes.Index(raw, []byte(`\u`))
		if i < 0 || i+4 > len(raw) {
			return false
		}
		if c, d := raw[i+2], raw[i+3]; (c == 'd' || c == 'D') && (d >= '8' && d <= '9' || d|0x20 >= 'a' && d|0x20 <= 'f') {
			return true
		}
		raw = raw[i+2:]
	}
}

// loneSurrogate returns the first unpaired UTF-16 surrogate escape in the
// raw JSON string tok, as written, or "" if there is none. A high
// surrogate (\uD800–\uDBFF) must be followed at once by a low one
// (\uDC00–\uDFFF); together they are one character, as "\ud83d\ude00" is.
func loneSurrogate(tok []byte) string {
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			continue
		}
		if i+1 >= len(tok) || tok[i+1] != 'u' {
			i++ // a two-character escape: skip what it escapes
			continue
		}
		r, ok := hex4(tok, i+2)
		if !ok || !utf16.IsSurrogate(r) {
			i += 5
			continue
		}
		if r < 0xdc00 { // high: is a low one next?
			if i+11 < len(tok) && tok[i+6] == '\\' && tok[i+7] == 'u' {
				if lo, ok := hex4(tok, i+8); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 11
					continue
				}
			}
		}
		return string(tok[i : i+6])
	}
	return ""
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// span is one member of a flat object: where its key (quoted) and its
// value are in the object's text. It holds no pointer.
type span struct{ k0, k1, v0, v1 int32 }

func (s span) key(text []byte) []byte { return text[s.k0:s.k1] }
func (s span) val(text []byte) []byte { return text[s.v0:s.v1] }

// flatMembers appends the members of b to dst when b is a compact object
// of primitives as this package writes it (no whitespace, strings in one
// form: see appendString), where equal keys are equal bytes. ok is false
// for anything else.
func flatMembers(dst []span, b []byte) (_ []span, ok bool) {
	return members(dst, b, false)
}

// members is flatMembers, also taking, if spaced, one space after each
// colon and comma, as PostgreSQL writes jsonb out.
func members(dst []span, b []byte, spaced bool) (_ []span, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return dst, false
	}
	i := 1
	if b[i] == '}' {
		return dst, i == len(b)-1
	}
	for {
		k := stringEnd(b, i)
		if k < 0 || k >= len(b) || b[k] != ':' {
			return dst, false
		}
		v := k + 1
		if spaced && v < len(b) && b[v] == ' ' {
			v++
		}
		var e int
		if v < len(b) && b[v] == '"' {
			e = stringEnd(b, v)
		} else {
			e = v
			for e < len(b) && b[e] != ',' && b[e] != '}' {
				switch b[e] {
				case ' ', '\t', '\n', '\r', '{', '[', '"', ':':
					return dst, false
				}
				e++
			}
			if e == v {
				return dst, false
			}
		}
		if e < 0 || e >= len(b) {
			return dst, false
		}
		dst = append(dst, span{int32(i), int32(k), int32(v), int32(e)})
		switch {
		case b[e] == '}' && e == len(b)-1:
			return dst, true
		case b[e] == ',':
			i = e + 1
			if spaced && i < len(b) && b[i] == ' ' {
				i++
			}
		default:
			return dst, false
		}
	}
}

var null = []byte("null")

// appendValue writes a primitive metadata value as the stores keep it.
func appendValue(dst []byte, v *fastjson.Value) []byte {
	if v.Type() == fastjson.TypeString {
		return appendString(dst, v.GetStringBytes())
	}
	return v.MarshalTo(dst)
}

package bulkid

import "github.com/valyala/fastjson"

// span is one member of a flat object, as raw bytes.
type span struct{ key, val []byte }

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
	str := func(i int) int { // the index after the string that starts at i, or -1
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	}
	for {
		k := str(i)
		if k < 0 || k >= len(b) || b[k] != ':' {
			return dst, false
		}
		v := k + 1
		if spaced && v < len(b) && b[v] == ' ' {
			v++
		}
		var e int
		if v < len(b) && b[v] == '"' {
			e = str(v)
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
		dst = append(dst, span{b[i:k], b[v:e]})
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
		return appendString(dst, string(v.GetStringBytes()))
	}
	return v.MarshalTo(dst)
}

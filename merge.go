package bulkid

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/valyala/fastjson"
)

// MergePatches returns the one metadata patch that has the effect of
// applying a and then b, both as ValidateRecord returns them (nil, or a
// compact object of primitives): b's keys win, and a null in b stays, so
// that it still removes the key. Stores use it to fold several records
// for one id in a batch into one write.
func MergePatches(a, b json.RawMessage) json.RawMessage {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return mergeAll([]json.RawMessage{a, b})
}

// FoldByID returns records with one record per id, in the order of each
// id's first record, whose metadata is the MergePatches of that id's
// records in order: writing them in any order has the effect of writing
// recs in order. For companies only: a user's association is not folded.
// It takes time linear in the metadata, however many records share an id.
func FoldByID(recs []Record) []Record {
	index := make(map[string]int, len(recs))
	out := make([]Record, 0, len(recs))
	var patches [][]json.RawMessage // of out[i], when more than one
	for _, r := range recs {
		i, ok := index[r.ID]
		if !ok {
			index[r.ID] = len(out)
			out = append(out, r)
			patches = append(patches, nil)
			continue
		}
		if r.Metadata == nil {
			continue
		}
		if patches[i] == nil && out[i].Metadata != nil {
			patches[i] = []json.RawMessage{out[i].Metadata}
		}
		patches[i] = append(patches[i], r.Metadata)
	}
	for i, ps := range patches {
		if len(ps) > 1 {
			out[i].Metadata = mergeAll(ps)
		} else if len(ps) == 1 {
			out[i].Metadata = ps[0]
		}
	}
	return out
}

// mergeAll is MergePatches folded over patches, in one pass: the last
// value of each key wins, nulls included, and keys come out sorted.
func mergeAll(patches []json.RawMessage) json.RawMessage {
	p := parsers.Get()
	defer parsers.Put(p)
	last := map[string][]byte{}
	size := 2
	for _, raw := range patches {
		v, err := p.ParseBytes(raw)
		if err != nil {
			continue // cannot happen for ValidateRecord's output
		}
		obj, _ := v.Object()
		obj.Visit(func(k []byte, v *fastjson.Value) {
			last[string(k)] = appendValue(nil, v)
		})
		size += len(raw)
	}
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, k)
		out = append(out, ':')
		out = append(out, last[k]...)
	}
	return append(out, '}')
}

// appendValue writes a primitive metadata value as the stores keep it.
func appendValue(dst []byte, v *fastjson.Value) []byte {
	if v.Type() == fastjson.TypeString {
		return appendString(dst, string(v.GetStringBytes()))
	}
	return v.MarshalTo(dst)
}

// ApplyPatch returns the stored metadata target with patch applied, by
// RFC 7396 as the API merges metadata (both flat objects of primitives):
// each key of patch is set, or removed where its value is null. Keys keep
// target's order and new ones follow in patch's order, as SQLite's
// json_patch does; unlike it, the time taken is linear in the sizes of the
// two, not their product, so that a profile holding many keys costs no
// more than its size to update. A target that is not an object is
// replaced, as RFC 7396 says.
func ApplyPatch(target, patch []byte) ([]byte, error) {
	if out, ok := applyFlat(target, patch); ok {
		return out, nil
	}
	return applyParsed(target, patch)
}

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

// applyFlat is ApplyPatch on the raw bytes of canonical objects, copying
// members without parsing their values.
func applyFlat(target, patch []byte) ([]byte, bool) {
	var buf [32]span
	pm, ok := flatMembers(buf[:0], patch)
	if !ok {
		return nil, false
	}
	tm, ok := flatMembers(make([]span, 0, 16), target)
	if !ok {
		return nil, false
	}
	var index map[string]int // of pm, for patches too long to scan
	if len(pm) > 16 {
		index = make(map[string]int, len(pm))
		for i, m := range pm {
			index[string(m.key)] = i // the last of duplicates wins
		}
	}
	find := func(key []byte) int {
		if index != nil {
			if i, ok := index[string(key)]; ok {
				return i
			}
			return -1
		}
		for i := len(pm) - 1; i >= 0; i-- {
			if bytes.Equal(pm[i].key, key) {
				return i
			}
		}
		return -1
	}
	used := make([]bool, len(pm))
	out := make([]byte, 0, len(target)+len(patch))
	out = append(out, '{')
	add := func(m span) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, m.key...)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	for _, m := range tm {
		i := find(m.key)
		if i < 0 {
			add(m)
			continue
		}
		used[i] = true
		if !bytes.Equal(pm[i].val, null) {
			add(span{m.key, pm[i].val})
		}
	}
	for i, m := range pm {
		if used[i] || bytes.Equal(m.val, null) || find(m.key) != i {
			continue // applied, a removal, or not the last of duplicates
		}
		add(m)
	}
	return append(out, '}'), true
}

// applyParsed is ApplyPatch on any JSON objects, through fastjson.
func applyParsed(target, patch []byte) ([]byte, error) {
	p := parsers.Get()
	defer parsers.Put(p)
	pv, err := p.ParseBytes(patch)
	if err != nil {
		return nil, err
	}
	pobj, err := pv.Object()
	if err != nil {
		return nil, err
	}
	set := make(map[string]*fastjson.Value, pobj.Len())
	var order []string
	pobj.Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		if _, dup := set[key]; !dup {
			order = append(order, key)
		}
		set[key] = v
	})
	out := make([]byte, 0, len(target)+len(patch))
	out = append(out, '{')
	add := func(k string, v *fastjson.Value) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendString(out, k)
		out = append(out, ':')
		out = appendValue(out, v)
	}
	q := parsers.Get()
	defer parsers.Put(q)
	if tv, err := q.ParseBytes(target); err == nil {
		if tobj, err := tv.Object(); err == nil {
			tobj.Visit(func(k []byte, v *fastjson.Value) {
				key := string(k)
				nv, patched := set[key]
				switch {
				case !patched:
					add(key, v)
				case nv.Type() != fastjson.TypeNull:
					add(key, nv)
				}
				if patched {
					delete(set, key) // applied in place
				}
			})
		}
	}
	for _, k := range order {
		if v, ok := set[k]; ok && v.Type() != fastjson.TypeNull {
			add(k, v)
		}
	}
	return append(out, '}'), nil
}

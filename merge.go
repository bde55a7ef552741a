package bulkid

import (
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
	p := parsers.Get()
	defer parsers.Put(p)
	var members []member
	collect := func(raw []byte) {
		v, err := p.ParseBytes(raw)
		if err != nil {
			return // cannot happen for ValidateRecord's output
		}
		obj, _ := v.Object()
		obj.Visit(func(k []byte, v *fastjson.Value) {
			members = append(members, member{string(k), v})
		})
	}
	// Both objects' values must stay valid while members refers to them,
	// so parse b with a second parser.
	collect(a)
	q := parsers.Get()
	defer parsers.Put(q)
	if v, err := q.ParseBytes(b); err == nil {
		obj, _ := v.Object()
		obj.Visit(func(k []byte, v *fastjson.Value) {
			members = append(members, member{string(k), v})
		})
	}
	sort.SliceStable(members, func(i, j int) bool { return members[i].key < members[j].key })
	out := make([]byte, 0, len(a)+len(b))
	out = append(out, '{')
	for i, m := range members {
		if i+1 < len(members) && members[i+1].key == m.key {
			continue // b's value follows a's in the stable order
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		if m.v.Type() == fastjson.TypeString {
			out = appendString(out, string(m.v.GetStringBytes()))
		} else {
			out = m.v.MarshalTo(out)
		}
	}
	return append(out, '}')
}

// FoldByID returns records with one record per id, in the order of each
// id's first record, whose metadata is the MergePatches of that id's
// records in order: writing them in any order has the effect of writing
// recs in order. For companies only: a user's association is not folded.
func FoldByID(recs []Record) []Record {
	index := make(map[string]int, len(recs))
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if i, ok := index[r.ID]; ok {
			out[i].Metadata = MergePatches(out[i].Metadata, r.Metadata)
			continue
		}
		index[r.ID] = len(out)
		out = append(out, r)
	}
	return out
}

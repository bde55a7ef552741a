package bulkid

import "github.com/valyala/fastjson"

// applyPatch returns target with patch applied by RFC 7396, as the API
// merges metadata (both flat objects of primitives), through fastjson:
// keys keep target's order and new ones follow in patch's order. It is
// what the stores merged with before ApplyRecords (sqlite's bulkid_patch),
// kept as the oracle the merge tests compare ApplyRecords with.
func applyPatch(target, patch []byte) ([]byte, error) {
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

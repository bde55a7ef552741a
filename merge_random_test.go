package bulkid_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestApplyRecordsRandom: random batches, many records of an id among
// them, merged into profiles stored in every layout the stores write
// (compact or spaced, keys in any order, more keys than are found without
// an index) give what RFC 7396 applied record by record gives, key order
// included, and each record is counted as what it did.
func TestApplyRecordsRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(14, 1))
	values := []string{`1`, `2`, `"x"`, `"a\\\"b"`, `true`, `null`, `null`, `1.5`}
	object := func(keys []string, spaced bool) []byte {
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
				if spaced {
					b.WriteByte(' ')
				}
			}
			fmt.Fprintf(&b, "%q:", k)
			if spaced {
				b.WriteByte(' ')
			}
			v := values[r.IntN(len(values))]
			for v == `null` {
				v = values[r.IntN(len(values))]
			}
			b.WriteString(v)
		}
		b.WriteByte('}')
		return []byte(b.String())
	}
	someKeys := func(max int) []string {
		keys := make([]string, r.IntN(max+1))
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d", r.IntN(24))
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	}
	for round := range 300 {
		users := round%2 == 1
		stored := map[string]bulkid.StoredProfile{}
		for i := range 6 {
			if r.IntN(3) == 0 {
				continue
			}
			keys := someKeys(22)
			switch r.IntN(3) {
			case 0: // PostgreSQL's jsonb order: by length, then bytes
				slices.SortStableFunc(keys, func(a, b string) int { return len(a) - len(b) })
			case 1:
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			}
			stored[fmt.Sprint("p", i)] = bulkid.StoredProfile{Metadata: object(keys, r.IntN(2) == 0)}
		}
		var recs []bulkid.Record
		for range 1 + r.IntN(12) {
			id := fmt.Sprint("p", r.IntN(6))
			var md json.RawMessage
			switch r.IntN(6) {
			case 0: // no metadata
			case 1: // sent as is: unsorted, a key twice in a row
				keys := someKeys(6)
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
				if len(keys) > 0 {
					keys = slices.Insert(keys, 0, keys[0])
				}
				var b strings.Builder
				b.WriteByte('{')
				for i, k := range keys {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%q:%s", k, values[r.IntN(len(values))])
				}
				b.WriteByte('}')
				md = json.RawMessage(b.String())
			default:
				var b strings.Builder
				b.WriteByte('{')
				for i, k := range someKeys(10) {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%q:%s", k, values[r.IntN(len(values))])
				}
				b.WriteByte('}')
				raw := fmt.Sprintf(`{"company_id":%q,"metadata":%s}`, id, b.String())
				if users {
					raw = fmt.Sprintf(`{"user_id":%q,"metadata":%s}`, id, b.String())
				}
				v, rerr := bulkid.ValidateRecord(map[bool]bulkid.JobType{false: bulkid.JobCompanies, true: bulkid.JobUsers}[users], []byte(raw))
				if rerr != nil {
					t.Fatal(rerr.Message)
				}
				md = v.Metadata
			}
			recs = append(recs, bulkid.Record{ID: id, Metadata: md, Seq: len(recs)})
		}
		var res *bulkid.Applied
		var err error
		if users {
			res, err = bulkid.ApplyRecords(nil, recs, nil, stored)
		} else {
			res, err = bulkid.ApplyRecords(recs, nil, stored, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The oracle: each record patched in order into what is stored.
		now := map[string][]byte{}
		var want bulkid.RowCounts
		touched := map[string]bool{}
		for _, rc := range recs {
			cur, seen := now[rc.ID]
			if !seen {
				cur = []byte(`{}`)
				if s, ok := stored[rc.ID]; ok {
					var c bytes.Buffer
					json.Compact(&c, s.Metadata)
					cur = c.Bytes()
				}
			}
			next := cur
			if rc.Metadata != nil {
				if next, err = bulkid.ApplyPatch(cur, rc.Metadata); err != nil {
					t.Fatal(err)
				}
			}
			_, isStored := stored[rc.ID]
			switch {
			case !seen && !isStored:
				want.Created++
			case !bytes.Equal(canonical(t, cur), canonical(t, next)):
				want.Updated++
			default:
				want.Unchanged++
			}
			if !bytes.Equal(canonical(t, cur), canonical(t, next)) || !isStored {
				touched[rc.ID] = true
			}
			now[rc.ID] = next
		}
		got, ws := res.CompanyRows, res.Companies
		if users {
			got, ws = res.UserRows, res.Users
		}
		if got != want {
			t.Fatalf("round %d: counts %+v, want %+v (records %v, stored %v)", round, got, want, recs, stored)
		}
		if len(ws) != len(touched) || !slices.IsSortedFunc(ws, func(a, b bulkid.ProfileWrite) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("round %d: %d writes (in id order: %v), want %d", round, len(ws), slices.IsSortedFunc(ws, func(a, b bulkid.ProfileWrite) int { return strings.Compare(a.ID, b.ID) }), len(touched))
		}
		for _, w := range ws {
			_, isStored := stored[w.ID]
			if !touched[w.ID] || w.Create == isStored || string(w.Metadata) != string(now[w.ID]) {
				t.Fatalf("round %d: %s written %s (create %v), want %s (stored %s)", round, w.ID, w.Metadata, w.Create, now[w.ID], stored[w.ID].Metadata)
			}
		}
	}
}

// canonical is a JSON object with its keys sorted, for comparing values.
func canonical(t *testing.T, obj []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	return b
}

// TestApplyRecordsNewProfile: into a profile that is not stored, a
// record's metadata is written as sent but for its removals, and a later
// record of the same id merges into it.
func TestApplyRecordsNewProfile(t *testing.T) {
	t.Parallel()
	recs := []bulkid.Record{
		rec(t, bulkid.JobCompanies, `{"company_id":"n1","metadata":{"b":null,"a":1}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"n2","metadata":{"b":2,"a":1}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"n3","metadata":{"x":null}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"n2","metadata":{"a":null,"c":3}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"n4","metadata":{"k":"v"}}`),
		rec(t, bulkid.JobCompanies, `{"company_id":"n4","metadata":{"k":"v"}}`),
	}
	res, err := bulkid.ApplyRecords(recs, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n1": `{"a":1}`, "n2": `{"b":2,"c":3}`, "n3": `{}`, "n4": `{"k":"v"}`}
	if len(res.Companies) != len(want) {
		t.Fatalf("Companies = %+v, want %d", res.Companies, len(want))
	}
	for _, w := range res.Companies {
		if string(w.Metadata) != want[w.ID] || !w.Create {
			t.Errorf("%s: %s (create %v), want %s created", w.ID, w.Metadata, w.Create, want[w.ID])
		}
	}
	if c := (bulkid.RowCounts{Created: 4, Updated: 1, Unchanged: 1}); res.CompanyRows != c {
		t.Errorf("CompanyRows = %+v, want %+v", res.CompanyRows, c)
	}
}

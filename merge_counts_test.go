package bulkid_test

import (
	"strings"
	"testing"

	"github.com/bulkid/bulkid"
)

// TestApplyRecordsRowCounts: each applied record is counted once, as
// created, updated or unchanged, against the profile the records before it
// left; values stored in another layout (PostgreSQL's jsonb) that equal
// what is sent are no change.
func TestApplyRecordsRowCounts(t *testing.T) {
	t.Parallel()
	stored := map[string]bulkid.StoredProfile{
		"pg":    {Metadata: []byte(`{"n": 1000, "big": 12345678901234567890123, "s": "a\bb", "f": 1.50}`)},
		"plain": {Metadata: []byte(`{"n":1,"s":"x"}`)},
	}
	for _, tc := range []struct {
		name string
		recs []string
		want bulkid.RowCounts
	}{
		{"new profile", []string{`{"company_id":"new"}`}, bulkid.RowCounts{Created: 1}},
		{"new then same then change", []string{`{"company_id":"new","metadata":{"a":1}}`, `{"company_id":"new","metadata":{"a":1}}`, `{"company_id":"new","metadata":{"a":2}}`}, bulkid.RowCounts{Created: 1, Updated: 1, Unchanged: 1}},
		{"no metadata", []string{`{"company_id":"plain"}`}, bulkid.RowCounts{Unchanged: 1}},
		{"same values", []string{`{"company_id":"plain","metadata":{"n":1,"s":"x"}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"remove absent key", []string{`{"company_id":"plain","metadata":{"gone":null}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"remove key", []string{`{"company_id":"plain","metadata":{"n":null}}`}, bulkid.RowCounts{Updated: 1}},
		{"add key", []string{`{"company_id":"plain","metadata":{"m":1}}`}, bulkid.RowCounts{Updated: 1}},
		{"new value", []string{`{"company_id":"plain","metadata":{"n":2}}`}, bulkid.RowCounts{Updated: 1}},
		{"type change", []string{`{"company_id":"plain","metadata":{"n":"1"}}`}, bulkid.RowCounts{Updated: 1}},
		{"jsonb layout, same values", []string{`{"company_id":"pg","metadata":{"n":1E3,"big":12345678901234567890123,"s":"a\u0008b","f":1.5}}`}, bulkid.RowCounts{Unchanged: 1}},
		{"digits beyond float64", []string{`{"company_id":"pg","metadata":{"big":12345678901234567890124}}`}, bulkid.RowCounts{Updated: 1}},
		{"minus zero", []string{`{"company_id":"plain","metadata":{"z":0}}`, `{"company_id":"plain","metadata":{"z":-0}}`}, bulkid.RowCounts{Updated: 1, Unchanged: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var recs []bulkid.Record
			for _, r := range tc.recs {
				recs = append(recs, rec(t, bulkid.JobCompanies, r))
			}
			res, err := bulkid.ApplyRecords(recs, nil, stored, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.CompanyRows != tc.want {
				t.Errorf("CompanyRows = %+v, want %+v", res.CompanyRows, tc.want)
			}
		})
	}
}

// TestApplyRecordsUserRowCounts: a user record that changes only the
// user's company is an update; a rejected record is not counted.
func TestApplyRecordsUserRowCounts(t *testing.T) {
	t.Parallel()
	stored := map[string]bulkid.StoredProfile{"u": {Metadata: []byte(`{"a":1}`), CompanyID: "c1"}}
	recs := []bulkid.Record{
		rec(t, bulkid.JobUsers, `{"user_id":"u","company_id":"c1","metadata":{"a":1}}`),
		rec(t, bulkid.JobUsers, `{"user_id":"u","company_id":"c2"}`),
		rec(t, bulkid.JobUsers, `{"user_id":"v"}`),
	}
	// Two halves of 600 KB: the second would take w over 1 MiB and fails alone.
	for _, k := range []string{"k1", "k2"} {
		big := `{"user_id":"w","metadata":{"` + k + `":"` + strings.Repeat("x", 600<<10) + `"}}`
		recs = append(recs, rec(t, bulkid.JobUsers, big))
	}
	res, err := bulkid.ApplyRecords(nil, recs, nil, stored)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bulkid.RowCounts{Created: 2, Updated: 1, Unchanged: 1}); res.UserRows != want || len(res.Rejected) != 1 {
		t.Errorf("UserRows = %+v (rejected %d), want %+v and 1 rejected", res.UserRows, len(res.Rejected), want)
	}
	if res.CompanyRows != (bulkid.RowCounts{}) {
		t.Errorf("CompanyRows = %+v for a users batch, want none", res.CompanyRows)
	}
}

// TestApplyRecordsDeltas: Deltas says by how much each company of Dirty
// changes its user count, from where each user was stored to where its
// last applied record leaves it: a user that moves twice changes only
// where it ended and where it started, one that comes back changes
// nothing, a rejected record moves no one, and a user leaving a company
// that is not stored changes no count.
func TestApplyRecordsDeltas(t *testing.T) {
	t.Parallel()
	companies := map[string]bulkid.StoredProfile{"a": {}, "b": {}, "c": {}}
	users := map[string]bulkid.StoredProfile{
		"u1": {CompanyID: "a"}, "u2": {CompanyID: "a"}, "u3": {CompanyID: "b"},
		"u4": {CompanyID: "gone"}, "u5": {CompanyID: "c"},
	}
	// Two halves of 600 KB: the second, which would move u5, fails alone.
	half := strings.Repeat("x", 600<<10)
	var recs []bulkid.Record
	for _, r := range []string{
		`{"user_id":"u1","company_id":"b"}`, `{"user_id":"u1","company_id":"new"}`, // a → new
		`{"user_id":"u2","company_id":"b"}`, `{"user_id":"u2","company_id":"a"}`, // a → a
		`{"user_id":"u3","company_id":"new","metadata":{"k":1}}`, // b → new
		`{"user_id":"u4","company_id":"b"}`,                      // gone (not stored) → b
		`{"user_id":"u6","company_id":"new"}`,                    // new user → new
		`{"user_id":"u7"}`,                                       // new user, no company
		`{"user_id":"u5","metadata":{"k1":"` + half + `"}}`,
		`{"user_id":"u5","company_id":"a","metadata":{"k2":"` + half + `"}}`, // rejected: u5 stays in c
	} {
		recs = append(recs, rec(t, bulkid.JobUsers, r))
	}
	res, err := bulkid.ApplyRecords(nil, recs, companies, users)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	if len(res.Deltas) != len(res.Dirty) {
		t.Fatalf("%d Deltas for %d Dirty companies", len(res.Deltas), len(res.Dirty))
	}
	for i, id := range res.Dirty {
		got[id] = res.Deltas[i]
	}
	for id, want := range map[string]int{"a": -1, "b": 0, "new": 3} {
		if got[id] != want {
			t.Errorf("company %s: delta %d, want %d (Dirty %q, Deltas %v)", id, got[id], want, res.Dirty, res.Deltas)
		}
	}
	// a: -u1; b: -u3 +u4; new: +u1 +u3 +u6; gone: no count; c: untouched.
	if d, ok := got["gone"]; ok && d != 0 {
		t.Errorf("company gone, not stored: delta %d, want none", d)
	}
	if _, ok := got["c"]; ok {
		t.Errorf("company c is Dirty; only a rejected record named its user")
	}
}
